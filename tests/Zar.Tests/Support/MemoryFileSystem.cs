using Zar.Model;

namespace Zar.Tests.Support;

/// <summary>
/// An in-memory <see cref="IReadOnlyFileSystem"/> for tests: entries plus byte contents. By default
/// <see cref="Walk"/> yields entries in <see cref="ZarPath.ComparePaths"/> order like every real reader;
/// with <see cref="RawOrder"/> it yields them exactly as added, paths unchecked, to play a crafted
/// (hostile or broken) image.
/// </summary>
public sealed class MemoryFileSystem : IReadOnlyFileSystem
{
    readonly List<Entry> _entries = new();
    readonly Dictionary<Entry, byte[]> _data = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<Entry, IReadOnlyList<DataExtent>> _extents = new(ReferenceEqualityComparer.Instance);
    Entry _root;
    // Entries added without an inode number get one from a range no test uses, so numbers stay unique.
    const long FirstFreeInode = 1L << 32;

    public MemoryFileSystem(string description = "memory filesystem", uint rootMode = 0b111_101_101)
    {
        Description = description;
        _root = new Entry { Path = "", Type = EntryType.Directory, Mode = rootMode, Inode = 1 };
    }

    public string Description { get; }
    public bool RawOrder { get; init; }
    public Entry Root => _root;
    public IReadOnlyList<Entry> Entries => _entries;

    /// <summary>Adds an entry; <paramref name="data"/> is the file's full logical content (zeros in holes),
    /// <paramref name="extents"/> the ranges that hold data when the file has holes.</summary>
    public MemoryFileSystem Add(Entry entry, byte[]? data = null, IReadOnlyList<DataExtent>? extents = null)
    {
        if (entry.Path.Length == 0) { _root = entry.With(inode: 1); return this; }
        var e = entry.With(inode: entry.Inode != 0 ? entry.Inode : FirstFreeInode + _entries.Count,
            size: entry.Type == EntryType.Regular ? data?.LongLength ?? entry.Size : 0);
        _entries.Add(e);
        _data[e] = data ?? Array.Empty<byte>();
        if (extents != null) _extents[e] = extents;
        return this;
    }

    public MemoryFileSystem File(string path, byte[] data, uint mode = 0b110_100_100, long inode = 0) =>
        Add(new Entry { Path = path, Type = EntryType.Regular, Mode = mode, Inode = inode, Size = data.Length }, data);

    public MemoryFileSystem File(string path, string text, uint mode = 0b110_100_100) =>
        File(path, System.Text.Encoding.UTF8.GetBytes(text), mode);

    public MemoryFileSystem Dir(string path, uint mode = 0b111_101_101) =>
        Add(new Entry { Path = path, Type = EntryType.Directory, Mode = mode });

    public MemoryFileSystem Symlink(string path, string target) =>
        Add(new Entry { Path = path, Type = EntryType.Symlink, Mode = 0b111_111_111, LinkTarget = target });

    public MemoryFileSystem Hardlink(string path, string target) =>
        Add(new Entry { Path = path, Type = EntryType.Hardlink, Mode = 0b110_100_100, LinkTarget = target });

    public Entry? Lookup(string path) =>
        path.Length == 0 ? _root : _entries.LastOrDefault(e => e.Path == path);

    public IEnumerable<Entry> List(Entry directory) =>
        _entries.Where(e => e.Path.Length > 0 && ZarPath.Parent(e.Path) == directory.Path && e.Path != directory.Path)
            .OrderBy(e => e.Name, ZarPath.NameComparer).ToList();

    public IEnumerable<Entry> Walk()
    {
        yield return _root;
        var order = RawOrder ? _entries : _entries.OrderBy(e => e.Path, ZarPath.PathComparer).ToList();
        foreach (var e in order) yield return e;
    }

    /// <summary>The content as segments of memory: the whole file, or the data extents given to <see cref="Add"/> (holes elsewhere).</summary>
    public FileData GetData(Entry file)
    {
        var data = _data[file];
        var blob = new Zar.Blobs.MemoryBlob(data, file.Path);
        if (!_extents.TryGetValue(file, out var extents)) return FileData.Contiguous(data.Length, blob, 0);
        return new FileData(data.Length, extents.Select(x => new FileSegment(x.Offset, x.Length, blob, x.Offset)));
    }

    public void Dispose() { }
}
