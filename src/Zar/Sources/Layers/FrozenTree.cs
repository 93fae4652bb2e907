using Zar.Model;
using Zar.Overlay;

namespace Zar.Sources.Layers;

/// <summary>
/// An immutable snapshot of a tree the layer applier built: entries by path, sorted children per
/// directory, and each regular file's data (segments of its layer's tar) by inode number. Inode numbers
/// are 1..n within the tree, shared by a hardlinked file's names.
/// </summary>
sealed class FrozenTree
{
    public required Entry Root { get; init; }
    public required Dictionary<string, Entry> ByPath { get; init; }
    public required Dictionary<string, Entry[]> Children { get; init; }
    public required Dictionary<long, FileData> Data { get; init; }
    /// <summary>Upper trees only: per directory path, the layer's deletions there.</summary>
    public Dictionary<string, UpperDirInfo>? Deletions { get; init; }

    public sealed record UpperDirInfo(Dictionary<string, Entry> Whiteouts, HashSet<string> HiddenLower, Entry? OpaqueMarker);

    /// <summary>A layer's upper tree (what an overlay upper directory for the layer holds) as it is now.</summary>
    public static FrozenTree FromUpper(Node root)
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
        var data = new Dictionary<long, FileData>();
        var deletions = new Dictionary<string, UpperDirInfo>(StringComparer.Ordinal);

        Entry Visit(Node n, string path)
        {
            if (!ids.TryGetValue(n.Inode, out long id))
            {
                ids[n.Inode] = id = ids.Count + 1;
                if (n.Inode.Type == EntryType.Regular) data[id] = n.Inode.Data;
            }
            var entry = n.Inode.ToEntry(path, id, n.IsDirectory ? 1 : counts[n.Inode]);
            byPath[path] = entry;
            if (n.Children != null)
            {
                var names = n.Children.Keys.ToList();
                names.Sort(ZarPath.NameComparer);
                var list = new Entry[names.Count];
                for (int i = 0; i < names.Count; i++) list[i] = Visit(n.Children[names[i]], ZarPath.Join(path, names[i]));
                children[path] = list;
                if (n.Whiteouts != null || n.HiddenLower != null || n.OpaqueMarker != null)
                    deletions[path] = new UpperDirInfo(
                        n.Whiteouts != null ? new(n.Whiteouts, StringComparer.Ordinal) : new(StringComparer.Ordinal),
                        n.HiddenLower != null ? new(n.HiddenLower, StringComparer.Ordinal) : new(StringComparer.Ordinal),
                        n.OpaqueMarker);
            }
            return entry;
        }

        var rootEntry = Visit(root, "");
        return new FrozenTree { Root = rootEntry, ByPath = byPath, Children = children, Data = data, Deletions = deletions };
    }

    /// <summary>
    /// The upper tree with its deletions written out as OCI (AUFS) whiteout files (<see cref="Whiteouts"/>):
    /// a deleted or replaced lower name gets a whiteout unless this layer re-created it; a directory this
    /// layer re-created, or whose lower content it dropped, gets an opaque marker. (The overlayfs form is
    /// this tree seen through <see cref="OverlayFormView"/>.)
    /// </summary>
    public FrozenTree WithWhiteouts()
    {
        if (Deletions == null || Deletions.Count == 0) return this;
        var byPath = new Dictionary<string, Entry>(ByPath, StringComparer.Ordinal);
        var extra = new Dictionary<string, List<Entry>>(StringComparer.Ordinal);
        var opaqueDirs = new Dictionary<string, Entry?>(StringComparer.Ordinal); // dir path -> marker entry (metadata)
        long nextId = ByPath.Values.Max(e => e.Inode);

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
                Add(Whiteouts.Make(WhiteoutFormat.Aufs, dir, name, wh));
            }
        }
        foreach (var (dir, marker) in opaqueDirs)
        {
            if (!ByPath.TryGetValue(dir, out var d) || !d.IsDirectory) continue;
            Add(Whiteouts.MakeOpaqueMarker(dir, marker));
        }

        void Add(Entry e)
        {
            e = e.With(inode: ++nextId);
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
        var data = new Dictionary<long, FileData>(Data);
        foreach (var list in extra.Values)
            foreach (var e in list)
                if (e.IsRegular) data[e.Inode] = FileData.Empty;
        return new FrozenTree { Root = byPath[""], ByPath = byPath, Children = children, Data = data, Deletions = null };
    }
}
