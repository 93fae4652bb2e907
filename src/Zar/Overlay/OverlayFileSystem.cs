using System.Collections.Concurrent;
using Zar.Model;

namespace Zar.Overlay;

/// <summary>
/// Read-only readers stacked the way overlayfs stacks lower directories: any mix of zar and EROFS images,
/// host directories, layer trees, in either whiteout form (<see cref="Whiteouts"/>). The bottom layer is
/// first. A name resolves to the top-most layer that has it, unless a layer above deleted it (a whiteout)
/// or an opaque directory above hides it; directories present in several layers merge their children
/// (attributes from the top-most); a non-directory hides a lower directory and vice versa. Whiteouts,
/// opaque markers and overlayfs xattrs are never shown.
///
/// Inode numbers are given per (layer, lower inode) on first sight, so all names of a hardlinked file
/// from one layer share one; link counts are the file's names still visible. Thread-safe; nothing is
/// read until asked (a lookup costs one lookup per layer that has the parent directory).
/// </summary>
public sealed class OverlayFileSystem : IReadOnlyFileSystem
{
    readonly IReadOnlyFileSystem[] _layers;
    readonly bool _ownsLayers;
    readonly ConcurrentDictionary<(int Layer, long Inode), long> _ids = new();
    readonly ConcurrentDictionary<long, Origin> _origins = new();
    readonly ConcurrentDictionary<long, uint> _linkCounts = new();
    readonly Lazy<Dictionary<long, List<string>>>[] _hardlinkNames;
    readonly Resolved _root;
    long _nextId;
    int _disposed;

    /// <summary>Where a merged entry comes from: the layer and the layer's own entry.</summary>
    readonly record struct Origin(int Layer, Entry Lower);

    /// <summary>A resolved name: its top-most entry and, for a directory, the layers whose directories merge (top first).</summary>
    sealed record Resolved(string Path, int Layer, Entry Lower, (int Layer, Entry Dir)[]? Directories)
    {
        public bool IsDirectory => Directories != null;
    }

    /// <param name="layers">Bottom first.</param>
    /// <param name="ownsLayers">Dispose the layers with the overlay.</param>
    public OverlayFileSystem(IEnumerable<IReadOnlyFileSystem> layers, string? description = null, bool ownsLayers = false)
    {
        _layers = layers.ToArray();
        if (_layers.Length == 0) throw new ZarException("an overlay needs at least one layer");
        _ownsLayers = ownsLayers;
        Description = description ?? $"overlay of {string.Join(", ", _layers.Select(l => l.Description))}";
        _hardlinkNames = new Lazy<Dictionary<long, List<string>>>[_layers.Length];
        for (int i = 0; i < _layers.Length; i++)
        {
            int layer = i;
            _hardlinkNames[i] = new(() => HardlinkNames(_layers[layer]), LazyThreadSafetyMode.ExecutionAndPublication);
        }
        var dirs = new List<(int, Entry)>();
        for (int i = _layers.Length - 1; i >= 0; i--)
        {
            var root = _layers[i].Root;
            dirs.Add((i, root));
            if (Whiteouts.IsOpaque(_layers[i], root)) break;
        }
        _root = new Resolved("", dirs[0].Item1, dirs[0].Item2, dirs.ToArray());
        Root = Merge(_root);
    }

    public string Description { get; }
    public Entry Root { get; }

    /// <summary>The layers, bottom first.</summary>
    public IReadOnlyList<IReadOnlyFileSystem> Layers => _layers;

    public Entry? Lookup(string path)
    {
        ThrowIfDisposed();
        var r = Resolve(path);
        return r == null ? null : Merge(r);
    }

    public Entry? Lookup(Entry directory, string name)
    {
        ThrowIfDisposed();
        if (!ZarPath.IsValidName(name)) return null;
        var dir = ResolvedDirectory(directory);
        if (dir == null) return null;
        var r = Child(dir, name);
        return r == null ? null : Merge(r);
    }

    public IEnumerable<Entry> List(Entry directory)
    {
        ThrowIfDisposed();
        var dir = ResolvedDirectory(directory) ?? throw new ZarException($"{Description}: {ZarPath.Display(directory.Path)}: not a directory");
        // Names decided by a higher layer (shown or deleted) are not looked at again below it.
        var decided = new HashSet<string>(StringComparer.Ordinal);
        var shown = new List<Resolved>();
        foreach (var (layer, dirEntry) in dir.Directories!)
        {
            var fs = _layers[layer];
            var children = fs.List(dirEntry).ToList();
            var deletedHere = new List<string>();
            foreach (var c in children)
            {
                if (Whiteouts.AufsTarget(c.Name) is { } target) deletedHere.Add(target);
                else if (Whiteouts.IsOverlayWhiteout(c)) deletedHere.Add(c.Name);
            }
            foreach (var c in children)
            {
                if (Whiteouts.IsReservedName(c.Name) || Whiteouts.IsOverlayWhiteout(c) || decided.Contains(c.Name)) continue;
                // Resolve through every layer: the name may be a directory merged with lower ones.
                var r = Child(dir, c.Name);
                decided.Add(c.Name);
                if (r != null) shown.Add(r);
            }
            foreach (var d in deletedHere) decided.Add(d);
        }
        shown.Sort((a, b) => ZarPath.CompareNames(ZarPath.Name(a.Path), ZarPath.Name(b.Path)));
        return shown.Select(Merge).ToList();
    }

    public IEnumerable<Entry> Walk() => FileSystemExtensions.DepthFirst(this);

    public FileData GetData(Entry file)
    {
        var o = OriginOf(file);
        return _layers[o.Layer].GetData(o.Lower);
    }

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        var o = OriginOf(file);
        return _layers[o.Layer].Read(o.Lower, offset, destination);
    }

    Origin OriginOf(Entry file)
    {
        ThrowIfDisposed();
        if (!_origins.TryGetValue(file.Inode, out var o))
            throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: entry does not belong to this overlay");
        return o;
    }

    /// <summary>The resolution of a merged directory entry: from the root, component by component.</summary>
    Resolved? ResolvedDirectory(Entry directory)
    {
        if (!directory.IsDirectory) return null;
        var r = Resolve(directory.Path);
        return r is { IsDirectory: true } ? r : null;
    }

    Resolved? Resolve(string path)
    {
        var current = _root;
        if (path.Length == 0) return current;
        foreach (var name in path.Split('/'))
        {
            if (!current.IsDirectory) return null;
            current = Child(current, name)!;
            if (current == null) return null;
        }
        return current;
    }

    /// <summary>overlayfs lookup of one name in a merged directory, top layer first.</summary>
    Resolved? Child(Resolved dir, string name)
    {
        if (Whiteouts.IsReservedName(name)) return null;
        List<(int, Entry)>? dirs = null;
        (int Layer, Entry Entry)? file = null;
        foreach (var (layer, dirEntry) in dir.Directories!)
        {
            var fs = _layers[layer];
            var e = fs.Lookup(dirEntry, name);
            bool deleted = Whiteouts.IsDeleted(fs, dirEntry, name, e);
            if (e != null && !Whiteouts.IsOverlayWhiteout(e))
            {
                if (e.IsDirectory)
                {
                    (dirs ??= new()).Add((layer, e));
                    if (Whiteouts.IsOpaque(fs, e)) break;
                }
                else
                {
                    // A non-directory is the answer unless a higher directory already is (then it is hidden).
                    if (dirs == null) file = (layer, e);
                    break;
                }
            }
            // A whiteout in this layer hides the name in every layer below (a same-layer entry stays).
            if (deleted) break;
        }
        var path = ZarPath.Join(dir.Path, name);
        if (dirs != null) return new Resolved(path, dirs[0].Item1, dirs[0].Item2, dirs.ToArray());
        return file is { } f ? new Resolved(path, f.Layer, f.Entry, null) : null;
    }

    /// <summary>The merged entry: the top-most lower entry under the overlay's inode number and link count.</summary>
    Entry Merge(Resolved r)
    {
        long id = _ids.GetOrAdd((r.Layer, r.Lower.Inode), _ => Interlocked.Increment(ref _nextId));
        _origins.TryAdd(id, new Origin(r.Layer, r.Lower));
        uint links = r.IsDirectory || r.Lower.LinkCount <= 1 ? r.Lower.LinkCount : _linkCounts.GetOrAdd(id, _ => VisibleNames(r.Layer, r.Lower));
        var xattrs = Whiteouts.Visible(r.Lower.Xattrs);
        return r.Lower.With(path: r.Path, inode: id, linkCount: links, xattrs: xattrs);
    }

    /// <summary>How many names of a hardlinked file of <paramref name="layer"/> the overlay still shows.</summary>
    uint VisibleNames(int layer, Entry lower)
    {
        if (!_hardlinkNames[layer].Value.TryGetValue(lower.Inode, out var names)) return 1;
        uint visible = 0;
        foreach (var p in names)
            if (Resolve(p) is { } r && r.Layer == layer && r.Lower.Inode == lower.Inode) visible++;
        return Math.Max(1u, visible);
    }

    /// <summary>The names of every hardlinked file of a layer (one walk, the first time a link count is needed).</summary>
    static Dictionary<long, List<string>> HardlinkNames(IReadOnlyFileSystem layer)
    {
        var names = new Dictionary<long, List<string>>();
        foreach (var e in layer.Walk())
        {
            if (e.IsDirectory || e.LinkCount <= 1) continue;
            if (!names.TryGetValue(e.Inode, out var list)) names[e.Inode] = list = new List<string>(2);
            list.Add(e.Path);
        }
        return names;
    }

    void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_ownsLayers) foreach (var l in _layers) l.Dispose();
    }
}
