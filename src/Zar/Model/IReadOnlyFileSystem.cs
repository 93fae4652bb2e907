using Zar.IO;
namespace Zar.Model;

/// <summary>
/// The one read-only filesystem interface every reader implements (host directory, zar image, EROFS
/// image, a layer tar's tree, the merged layer stack, an overlay of other readers, ...). Every consumer
/// (ls, cat, extract, diff, convert, a FUSE server) works on it, so any format converts to any other.
///
/// The contract, which every implementation keeps and the tests check:
/// <list type="bullet">
/// <item>Paths are normalized (<see cref="ZarPath.Normalize"/>, the root is ""); symlinks are never followed.</item>
/// <item><b>Inode numbers</b>: every entry has a non-zero <see cref="Entry.Inode"/>, unique per file and
/// shared by all names of a hardlinked file, stable for the reader's lifetime (the same entry looked up
/// twice, or reached by a walk, has the same number). A FUSE server uses it as the node id.</item>
/// <item><b>Threads</b>: Lookup, List, GetData, Read, GetTotals and Walk may be called from many threads at
/// once; entries and <see cref="FileData"/> are immutable.</item>
/// <item><b>Errors</b>: a damaged input is a <see cref="ZarFormatException"/> naming the file; a missing path
/// is null from Lookup; use after <see cref="IDisposable.Dispose"/> throws <see cref="ObjectDisposedException"/>,
/// never touches freed memory.</item>
/// </list>
/// </summary>
public interface IReadOnlyFileSystem : IDisposable
{
    /// <summary>What this is, for messages: "zar image x.zar", "directory /srv/root".</summary>
    string Description { get; }

    Entry Root { get; }

    /// <summary>The entry at a normalized path, or null when there is none.</summary>
    Entry? Lookup(string path);

    /// <summary>The child of <paramref name="directory"/> named <paramref name="name"/> (one component), or null.</summary>
    Entry? Lookup(Entry directory, string name) =>
        directory.IsDirectory && ZarPath.IsValidName(name) ? Lookup(ZarPath.Join(directory.Path, name)) : null;

    /// <summary>Children of a directory, sorted by name bytes.</summary>
    IEnumerable<Entry> List(Entry directory);

    /// <summary>Where a regular file's bytes live (segments of blobs; holes between them).</summary>
    FileData GetData(Entry file);

    /// <summary>
    /// Reads file bytes at an offset into a span; returns the count read (0 at end of file). Holes read as
    /// zeros. Readers that can check what they read (zar content digests) check it here, so consumers that
    /// copy bytes read through this rather than through the blobs of <see cref="GetData"/>.
    /// </summary>
    int Read(Entry file, long offset, Span<byte> destination) => GetData(file).Read(offset, destination);

    /// <summary>Totals for statfs: entries, bytes and block size. The default walks the tree once.</summary>
    FileSystemTotals GetTotals() => FileSystemTotals.Count(this);

    /// <summary>
    /// Every entry, root first, depth-first pre-order, siblings in name byte order
    /// (the order of <see cref="ZarPath.ComparePaths"/>).
    /// </summary>
    IEnumerable<Entry> Walk() => FileSystemExtensions.DepthFirst(this);
}

/// <summary>What statfs reports: how many entries (inodes), how many bytes the tree occupies, in what block size.</summary>
public readonly record struct FileSystemTotals(long Entries, long Bytes, int BlockSize)
{
    /// <summary>Counts by walking: entries, and the stored bytes of each file once (hardlinks counted once).</summary>
    public static FileSystemTotals Count(IReadOnlyFileSystem fs, int blockSize = 4096)
    {
        long entries = 0, bytes = 0;
        var seen = new HashSet<long>();
        foreach (var e in fs.Walk())
        {
            if (!seen.Add(e.Inode)) continue;
            entries++;
            if (e.IsRegular) bytes += e.Size;
        }
        return new FileSystemTotals(entries, bytes, blockSize);
    }
}

public static class FileSystemExtensions
{
    /// <summary>The default walk: depth-first pre-order from the root through <see cref="IReadOnlyFileSystem.List"/>.</summary>
    public static IEnumerable<Entry> DepthFirst(IReadOnlyFileSystem fs)
    {
        var stack = new Stack<Entry>();
        stack.Push(fs.Root);
        while (stack.Count > 0)
        {
            var e = stack.Pop();
            yield return e;
            if (e.IsDirectory)
            {
                var children = fs.List(e).ToList();
                for (int i = children.Count - 1; i >= 0; i--) stack.Push(children[i]);
            }
        }
    }

    /// <summary>Looks up a user-given path ("/etc/passwd", "./a", "a/"); throws a one-line error when missing.</summary>
    public static Entry Stat(this IReadOnlyFileSystem fs, string path)
    {
        var norm = ZarPath.Normalize(path) ?? throw new ZarException($"{ZarPath.Display(path)}: path escapes the root");
        return fs.Lookup(norm) ?? throw new ZarNotFoundException($"{fs.Description}: no such file or directory: {ZarPath.Display(path)}");
    }

    public static string ReadLink(this IReadOnlyFileSystem fs, string path)
    {
        var e = fs.Stat(path);
        if (e.Type != EntryType.Symlink) throw new ZarException($"{ZarPath.Display(path)}: not a symlink");
        return e.LinkTarget!;
    }

    public static IReadOnlyList<Xattr> ListXattrs(this IReadOnlyFileSystem fs, string path) => fs.Stat(path).Xattrs;

    public static byte[]? GetXattr(this IReadOnlyFileSystem fs, string path, string name) => fs.Stat(path).GetXattr(name);

    public static IEnumerable<Entry> List(this IReadOnlyFileSystem fs, string path)
    {
        var e = fs.Stat(path);
        if (!e.IsDirectory) throw new ZarException($"{ZarPath.Display(path)}: not a directory");
        return fs.List(e);
    }

    /// <summary>The ranges of a regular file that hold data (holes elsewhere).</summary>
    public static IReadOnlyList<DataExtent> GetExtents(this IReadOnlyFileSystem fs, Entry file) => fs.GetData(file).Extents;

    /// <summary>Reads exactly destination.Length bytes (or up to EOF); returns the count.</summary>
    public static int ReadFully(this IReadOnlyFileSystem fs, Entry file, long offset, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = fs.Read(file, offset + total, destination[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }

    public static byte[] ReadAllBytes(this IReadOnlyFileSystem fs, Entry file)
    {
        if (file.Size > Array.MaxLength) throw new ZarException($"{ZarPath.Display(file.Path)}: too large to read into memory");
        var buf = new byte[file.Size];
        int n = fs.ReadFully(file, 0, buf);
        if (n != buf.Length) throw new ZarFormatException($"{fs.Description}: {ZarPath.Display(file.Path)}: short read ({n} of {buf.Length} bytes)");
        return buf;
    }

    /// <summary>A read-only stream over a file's bytes (holes as zeros).</summary>
    public static Stream OpenRead(this IReadOnlyFileSystem fs, Entry file) => new FileSystemReadStream(fs, file);

    /// <summary>
    /// The stored bytes of a file, data range after data range in logical order (holes skipped), read
    /// through <see cref="IReadOnlyFileSystem.Read"/> so the reader's checks apply: what writers copy.
    /// </summary>
    public static Stream OpenStored(this IReadOnlyFileSystem fs, Entry file, IReadOnlyList<DataExtent> extents) =>
        new StoredExtentStream(fs, file, extents);
}

sealed class FileSystemReadStream(IReadOnlyFileSystem fs, Entry file) : ReadOnlyStream
{
    long _pos;
    public override bool CanSeek => true;
    public override long Length => file.Size;
    public override long Position { get => _pos; set => _pos = value; }
    public override int Read(Span<byte> buffer)
    {
        if (_pos >= file.Size) return 0;
        int want = (int)Math.Min(buffer.Length, file.Size - _pos);
        int n = fs.Read(file, _pos, buffer[..want]);
        _pos += n;
        return n;
    }
    public override long Seek(long offset, SeekOrigin origin) => _pos = origin switch
    {
        SeekOrigin.Begin => offset, SeekOrigin.Current => _pos + offset, _ => file.Size + offset,
    };
}

sealed class StoredExtentStream(IReadOnlyFileSystem fs, Entry file, IReadOnlyList<DataExtent> extents) : ExtentStream(extents)
{
    protected override int ReadAt(long offset, Span<byte> buffer)
    {
        int n = fs.Read(file, offset, buffer);
        if (n <= 0) throw new ZarFormatException($"{fs.Description}: {ZarPath.Display(file.Path)}: file is shorter than its extents");
        return n;
    }
}
