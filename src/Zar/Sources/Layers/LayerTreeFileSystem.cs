using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Layers;

/// <summary>
/// An immutable snapshot of a tree: entries by path and sorted children per directory. Entries of regular
/// files carry their data reference: Handle = layer index, DataOffset = offset in that layer's
/// uncompressed tar, Extents for sparse files.
/// </summary>
sealed class FrozenTree
{
    public required Entry Root { get; init; }
    public required Dictionary<string, Entry> ByPath { get; init; }
    public required Dictionary<string, Entry[]> Children { get; init; }
    /// <summary>Upper trees only: per directory path, the layer's deletions there.</summary>
    public Dictionary<string, UpperDirInfo>? Deletions { get; init; }

    public sealed record UpperDirInfo(Dictionary<string, Entry> Whiteouts, HashSet<string> HiddenLower, Entry? OpaqueMarker);

    public static FrozenTree FromMerged(Node root) => Build(root, upper: false);
    public static FrozenTree FromUpper(Node root) => Build(root, upper: true);

    static FrozenTree Build(Node root, bool upper)
    {
        // Link counts within this tree (an upper tree holds only some names of a file).
        var counts = new Dictionary<Inode, uint>(ReferenceEqualityComparer.Instance);
        var ids = new Dictionary<Inode, long>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            counts[n.Inode] = counts.GetValueOrDefault(n.Inode) + 1;
            if (n.Children != null) foreach (var c in n.Children.Values) stack.Push(c);
        }
        var byPath = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var children = new Dictionary<string, Entry[]>(StringComparer.Ordinal);
        var deletions = upper ? new Dictionary<string, UpperDirInfo>(StringComparer.Ordinal) : null;

        Entry Visit(Node n, string path)
        {
            if (!ids.TryGetValue(n.Inode, out long id)) ids[n.Inode] = id = ids.Count + 1;
            var entry = n.Inode.ToEntry(path, id, n.IsDirectory ? 1 : counts[n.Inode]);
            byPath[path] = entry;
            if (n.Children != null)
            {
                var names = n.Children.Keys.ToList();
                names.Sort(ZarPath.NameComparer);
                var list = new Entry[names.Count];
                for (int i = 0; i < names.Count; i++) list[i] = Visit(n.Children[names[i]], ZarPath.Join(path, names[i]));
                children[path] = list;
                if (deletions != null && (n.Whiteouts != null || n.HiddenLower != null || n.OpaqueMarker != null))
                    deletions[path] = new UpperDirInfo(
                        n.Whiteouts != null ? new(n.Whiteouts, StringComparer.Ordinal) : new(StringComparer.Ordinal),
                        n.HiddenLower != null ? new(n.HiddenLower, StringComparer.Ordinal) : new(StringComparer.Ordinal),
                        n.OpaqueMarker);
            }
            return entry;
        }

        var rootEntry = Visit(root, "");
        return new FrozenTree { Root = rootEntry, ByPath = byPath, Children = children, Deletions = deletions };
    }

    const string OpaqueName = ".wh..wh..opq";
    static readonly byte[] OpaqueValue = "y"u8.ToArray();

    /// <summary>The upper tree with its deletions written out as whiteout entries of the given form.</summary>
    public FrozenTree WithWhiteouts(WhiteoutFormat format)
    {
        if (Deletions == null || Deletions.Count == 0) return this;
        var byPath = new Dictionary<string, Entry>(ByPath, StringComparer.Ordinal);
        var extra = new Dictionary<string, List<Entry>>(StringComparer.Ordinal);
        var opaqueDirs = new Dictionary<string, Entry?>(StringComparer.Ordinal); // dir path -> marker entry (metadata)

        foreach (var (dir, info) in Deletions)
        {
            if (info.OpaqueMarker != null) opaqueDirs[dir] = info.OpaqueMarker;
            foreach (var name in info.HiddenLower.Union(info.Whiteouts.Keys))
            {
                var path = ZarPath.Join(dir, name);
                info.Whiteouts.TryGetValue(name, out var wh);
                if (ByPath.TryGetValue(path, out var present))
                {
                    // The layer re-created the name: a non-directory hides the lower one by itself; a directory
                    // must not merge with the lower one.
                    if (present.IsDirectory && !opaqueDirs.ContainsKey(path)) opaqueDirs[path] = null;
                    continue;
                }
                var whiteout = format == WhiteoutFormat.Aufs
                    ? new Entry
                    {
                        Path = ZarPath.Join(dir, ".wh." + name), Type = EntryType.Regular, Mode = wh?.Mode ?? 0x1A4,
                        Uid = wh?.Uid ?? 0, Gid = wh?.Gid ?? 0, MtimeSeconds = wh?.MtimeSeconds ?? 0,
                        MtimeNanoseconds = wh?.MtimeNanoseconds ?? 0, Handle = -1,
                    }
                    : new Entry
                    {
                        Path = path, Type = EntryType.CharDevice, Mode = 0, DevMajor = 0, DevMinor = 0,
                        Uid = wh?.Uid ?? 0, Gid = wh?.Gid ?? 0, MtimeSeconds = wh?.MtimeSeconds ?? 0,
                        MtimeNanoseconds = wh?.MtimeNanoseconds ?? 0, Handle = -1,
                    };
                Add(whiteout);
            }
        }
        foreach (var (dir, marker) in opaqueDirs)
        {
            if (!ByPath.TryGetValue(dir, out var d) || !d.IsDirectory) continue;
            if (format == WhiteoutFormat.Aufs)
            {
                Add(new Entry
                {
                    Path = ZarPath.Join(dir, OpaqueName), Type = EntryType.Regular, Mode = marker?.Mode ?? 0x1A4,
                    Uid = marker?.Uid ?? 0, Gid = marker?.Gid ?? 0, MtimeSeconds = marker?.MtimeSeconds ?? 0,
                    MtimeNanoseconds = marker?.MtimeNanoseconds ?? 0, Handle = -1,
                });
            }
            else
            {
                var xattrs = d.Xattrs.Where(x => x.Name != "trusted.overlay.opaque").Append(new Xattr("trusted.overlay.opaque", OpaqueValue)).ToList();
                xattrs.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
                byPath[dir] = d.With(xattrs: xattrs);
            }
        }

        void Add(Entry e)
        {
            byPath[e.Path] = e;
            var parent = ZarPath.Parent(e.Path);
            if (!extra.TryGetValue(parent, out var list)) extra[parent] = list = new List<Entry>();
            list.Add(e);
        }

        // Rebuild children lists so they hold the (possibly replaced) entries plus the new ones, sorted.
        var children = new Dictionary<string, Entry[]>(StringComparer.Ordinal);
        foreach (var (dir, list) in Children)
        {
            var names = list.Select(e => e.Path).ToList();
            if (extra.TryGetValue(dir, out var more)) names.AddRange(more.Select(e => e.Path));
            var entries = names.Distinct(StringComparer.Ordinal).Select(p => byPath[p]).ToList();
            entries.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
            children[dir] = entries.ToArray();
        }
        return new FrozenTree { Root = byPath[""], ByPath = byPath, Children = children, Deletions = null };
    }
}

/// <summary>
/// A merged image or a single layer as a read-only filesystem. Metadata lives in memory; file data is read
/// from the layer blobs on demand (see <see cref="LayerData"/> for what random access costs).
/// </summary>
public sealed class LayerTreeFileSystem : IReadOnlyFileSystem
{
    readonly FrozenTree _tree;
    readonly LayerData[] _data;

    internal LayerTreeFileSystem(string description, FrozenTree tree, LayerData[] data)
    {
        Description = description;
        _tree = tree;
        _data = data;
    }

    public string Description { get; }
    public Entry Root => _tree.Root;
    public int Count => _tree.ByPath.Count;

    public Entry? Lookup(string path) => _tree.ByPath.GetValueOrDefault(path);

    public IEnumerable<Entry> List(Entry directory) =>
        _tree.Children.TryGetValue(directory.Path, out var list) ? list : Array.Empty<Entry>();

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        if (file.Type != EntryType.Regular || offset >= file.Size || destination.IsEmpty) return 0;
        if (file.Handle < 0 || file.Handle >= _data.Length || file.DataOffset < 0)
            throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: entry does not belong to this image");
        var data = _data[file.Handle];
        int want = (int)Math.Min(destination.Length, file.Size - offset);
        if (file.Extents == null)
            return CheckedRead(data, file, file.DataOffset + offset, destination[..want]);

        // Sparse: stored bytes are the extents' data back to back; holes read as zeros.
        long stored = 0;
        foreach (var x in file.Extents)
        {
            if (offset < x.Offset)
            {
                int zeros = (int)Math.Min(want, x.Offset - offset);
                destination[..zeros].Clear();
                return zeros;
            }
            if (offset < x.End)
            {
                int n = (int)Math.Min(want, x.End - offset);
                return CheckedRead(data, file, file.DataOffset + stored + (offset - x.Offset), destination[..n]);
            }
            stored += x.Length;
        }
        destination[..want].Clear();
        return want;
    }

    int CheckedRead(LayerData data, Entry file, long tarOffset, Span<byte> destination)
    {
        int n = data.Read(tarOffset, destination);
        if (n < destination.Length) throw new ZarFormatException($"{Description}: {ZarPath.Display(file.Path)}: layer tar ends inside the file's data");
        return n;
    }

    /// <summary>
    /// One streaming pass over the whole tree that never needs random access into a compressed layer.
    /// Order: first every entry without data, in walk order (so directories come before their children and a
    /// tree can be built); then the files with data, layer by layer, each layer's in tar order, every layer
    /// decompressed once. A file's further names follow it as <see cref="EntryType.Hardlink"/> entries whose
    /// LinkTarget is the path of the name that carried the data (tar stream style). The stream passed with a
    /// file yields its stored bytes (for sparse files the extents' data back to back, see Entry.Extents) and
    /// is only valid during the callback; what the callback does not read is skipped.
    /// </summary>
    public void CopyTo(Action<Entry, Stream?> writer)
    {
        var all = ((IReadOnlyFileSystem)this).Walk().ToList();
        var primary = new Dictionary<long, Entry>();
        var secondaries = new Dictionary<long, List<Entry>>();
        var isSecondary = new HashSet<Entry>(ReferenceEqualityComparer.Instance);
        foreach (var e in all)
        {
            if (e.Type != EntryType.Regular || e.LinkCount <= 1 || e.Inode == 0) continue;
            if (primary.ContainsKey(e.Inode))
            {
                if (!secondaries.TryGetValue(e.Inode, out var l)) secondaries[e.Inode] = l = new List<Entry>();
                l.Add(e);
                isSecondary.Add(e);
            }
            else primary[e.Inode] = e;
        }
        var withData = new List<Entry>();
        foreach (var e in all)
        {
            if (isSecondary.Contains(e)) continue;
            if (e.Type == EntryType.Regular && e.Handle >= 0 && e.DataOffset >= 0 && e.Size > 0) withData.Add(e);
            else
            {
                writer(e, null);
                EmitLinks(e);
            }
        }
        foreach (var group in withData.GroupBy(e => e.Handle).OrderBy(g => g.Key))
        {
            using var tar = _data[group.Key].OpenSequential();
            long pos = 0;
            foreach (var e in group.OrderBy(e => e.DataOffset))
            {
                LayerData.Skip(tar, e.DataOffset - pos);
                pos = e.DataOffset;
                long stored = e.Extents?.Sum(x => x.Length) ?? e.Size;
                var window = new BoundedReadStream(tar, stored);
                writer(e, window);
                LayerData.Skip(tar, stored - window.Consumed);
                pos += stored;
                EmitLinks(e);
            }
        }

        void EmitLinks(Entry e)
        {
            if (e.Inode == 0 || !secondaries.TryGetValue(e.Inode, out var links)) return;
            foreach (var l in links)
                writer(new Entry
                {
                    Path = l.Path, Type = EntryType.Hardlink, LinkTarget = e.Path, Mode = l.Mode, Uid = l.Uid, Gid = l.Gid,
                    MtimeSeconds = l.MtimeSeconds, MtimeNanoseconds = l.MtimeNanoseconds, Xattrs = l.Xattrs,
                    Inode = l.Inode, LinkCount = l.LinkCount, Handle = -1,
                }, null);
        }
    }

    public void Dispose() { }
}

/// <summary>Reads at most a given number of bytes from a forward stream.</summary>
sealed class BoundedReadStream(Stream inner, long length) : ReadOnlyStream
{
    public long Consumed { get; private set; }
    public override long Length => length;
    public override long Position { get => Consumed; set => throw new NotSupportedException(); }
    public override int Read(Span<byte> buffer)
    {
        if (Consumed >= length || buffer.IsEmpty) return 0;
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, length - Consumed)]);
        if (n <= 0) throw new ZarFormatException("layer tar ends inside a file's data");
        Consumed += n;
        return n;
    }
}
