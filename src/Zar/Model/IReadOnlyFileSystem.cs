using Zar.IO;
namespace Zar.Model;

/// <summary>
/// The one read-only filesystem interface every reader implements (zar, EROFS, host directory,
/// tar + index, the layer stack, ...). Every consumer works on it, so any format converts to any other.
/// Paths given to it are normalized with <see cref="ZarPath.Normalize"/> by the caller or the
/// extension methods; symlinks are never followed.
/// </summary>
public interface IReadOnlyFileSystem : IDisposable
{
    /// <summary>What this is, for messages: "zar image x.zar", "directory /srv/root".</summary>
    string Description { get; }

    Entry Root { get; }

    /// <summary>The entry at a normalized path, or null when there is none.</summary>
    Entry? Lookup(string path);

    /// <summary>Children of a directory, sorted by name bytes.</summary>
    IEnumerable<Entry> List(Entry directory);

    /// <summary>Reads file bytes at an offset into a span; returns the count read (0 at end of file). Holes read as zeros.</summary>
    int Read(Entry file, long offset, Span<byte> destination);

    /// <summary>The ranges that hold data (holes elsewhere). Default: the whole file.</summary>
    IReadOnlyList<DataExtent> GetExtents(Entry file) =>
        file.DataExtents;

    /// <summary>The stored bytes of a file, extent after extent in logical order (holes skipped).</summary>
    Stream OpenExtents(Entry file, IReadOnlyList<DataExtent> extents) => new ExtentConcatStream(this, file, extents);

    /// <summary>
    /// Every entry, root first, depth-first pre-order, siblings in name byte order
    /// (the order of <see cref="ZarPath.ComparePaths"/>).
    /// </summary>
    IEnumerable<Entry> Walk() => FileSystemExtensions.DepthFirst(this);
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

sealed class ExtentConcatStream(IReadOnlyFileSystem fs, Entry file, IReadOnlyList<DataExtent> extents) : ExtentStream(extents)
{
    protected override int ReadAt(long offset, Span<byte> buffer)
    {
        int n = fs.Read(file, offset, buffer);
        if (n <= 0) throw new ZarFormatException($"{fs.Description}: {ZarPath.Display(file.Path)}: file is shorter than its extents");
        return n;
    }
}
