using Zar.Model;

namespace Zar.Tests.Erofs;

/// <summary>A tiny in-memory tree, for inputs a host filesystem cannot hold (ext4 caps a file's xattrs at one block).</summary>
public sealed class MemoryFileSystem : IReadOnlyFileSystem
{
    readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    readonly Dictionary<string, byte[]> _data = new(StringComparer.Ordinal);

    public string Description => "memory tree";
    public Entry Root => _entries[""];

    public MemoryFileSystem(long mtime = 1_600_000_000) =>
        _entries[""] = new Entry { Path = "", Type = EntryType.Directory, Mode = 0755, MtimeSeconds = mtime };

    public MemoryFileSystem Add(Entry e, byte[]? data = null)
    {
        _entries[e.Path] = e;
        if (data != null) _data[e.Path] = data;
        return this;
    }

    public Entry? Lookup(string path) => _entries.GetValueOrDefault(path);

    public IEnumerable<Entry> List(Entry directory) =>
        _entries.Values.Where(e => e.Path.Length > 0 && ZarPath.Parent(e.Path) == directory.Path)
            .OrderBy(e => e.Name, ZarPath.NameComparer).ToList();

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        if (offset >= file.Size) return 0;
        int n = (int)Math.Min(destination.Length, file.Size - offset);
        var data = _data.GetValueOrDefault(file.Path) ?? [];
        destination[..n].Clear();
        if (offset < data.Length) data.AsSpan((int)offset, (int)Math.Min(n, data.Length - offset)).CopyTo(destination);
        return n;
    }

    public void Dispose() { }
}
