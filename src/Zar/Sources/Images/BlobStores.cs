using Zar.Model;
using Zar.Sources.Tar;

namespace Zar.Sources.Images;

/// <summary>Files of an image layout or archive, by archive-relative path (a directory or an uncompressed tar).</summary>
interface IBlobStore : IDisposable
{
    string Description { get; }
    bool Exists(string path);
    /// <summary>Opens a member for reading; the stream can seek. Throws ZarNotFoundException when missing.</summary>
    Stream Open(string path);
    long Length(string path);
}

static class BlobStoreExtensions
{
    public static byte[] ReadAll(this IBlobStore store, string path, long limit = 64 << 20)
    {
        long len = store.Length(path);
        if (len > limit) throw new ZarFormatException($"{store.Description}: {path} is {len} bytes, too large for a JSON document");
        using var s = store.Open(path);
        var buf = new byte[len];
        s.ReadExactly(buf);
        return buf;
    }

    /// <summary>Normalizes an archive-relative path from a manifest; refuses ones that leave the archive.</summary>
    public static string SafePath(this IBlobStore store, string path)
    {
        if (path.StartsWith('/')) throw new ZarFormatException($"{store.Description}: path {ZarPath.Display(path)} is absolute");
        return ZarPath.Normalize(path) is { Length: > 0 } p ? p : throw new ZarFormatException($"{store.Description}: path {ZarPath.Display(path)} leaves the archive");
    }
}

/// <summary>A directory on the host (an OCI layout).</summary>
sealed class DirectoryBlobStore(string root, string description) : IBlobStore
{
    public string Description { get; } = description;

    string Full(string path) => Path.Combine(root, this.SafePath(path));

    public bool Exists(string path) => File.Exists(Full(path));

    public Stream Open(string path)
    {
        var full = Full(path);
        try { return new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new ZarNotFoundException($"{Description}: {path} is missing"); }
        catch (DirectoryNotFoundException) { throw new ZarNotFoundException($"{Description}: {path} is missing"); }
        catch (UnauthorizedAccessException e) { throw new ZarException($"{Description}: cannot read {path}: {e.Message}", e); }
    }

    public long Length(string path)
    {
        var fi = new FileInfo(Full(path));
        return fi.Exists ? fi.Length : throw new ZarNotFoundException($"{Description}: {path} is missing");
    }

    public void Dispose() { }
}

/// <summary>
/// An uncompressed tar (docker save output, oci-archive) read in place: one pass over the headers indexes the
/// members by path and data offset; members are then read as windows of the file, never extracted.
/// Symlinked and hardlinked members (legacy docker save links duplicate layer.tar files) resolve inside the archive.
/// </summary>
sealed class TarBlobStore : IBlobStore
{
    readonly string _file;
    readonly Dictionary<string, TarEntry> _members = new(StringComparer.Ordinal);
    public string Description { get; }

    public TarBlobStore(string file, string description)
    {
        _file = file;
        Description = description;
        using var fs = OpenFile();
        using (var probe = LayerStream.Open(fs, out var compression, leaveOpen: true))
            if (compression != LayerCompression.None)
                throw new ZarNotSupportedException($"{description}: the archive is {compression.ToString().ToLowerInvariant()}-compressed; decompress it first");
        fs.Position = 0;
        using var reader = new TarReader(fs, description, leaveOpen: true);
        while (reader.Next() is { } te)
            if (te.Entry.Path.Length > 0) _members[te.Entry.Path] = te;
    }

    public IEnumerable<string> MemberPaths => _members.Keys;

    FileStream OpenFile()
    {
        try { return new FileStream(_file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new ZarNotFoundException($"{Description}: no such file"); }
        catch (DirectoryNotFoundException) { throw new ZarNotFoundException($"{Description}: no such file"); }
        catch (UnauthorizedAccessException e) { throw new ZarException($"{Description}: cannot read: {e.Message}", e); }
    }

    TarEntry? Resolve(string path)
    {
        var p = this.SafePath(path);
        for (int hops = 0; hops < 40; hops++)
        {
            if (!_members.TryGetValue(p, out var te)) return null;
            var e = te.Entry;
            switch (e.Type)
            {
                case EntryType.Regular:
                    if (e.IsSparse) throw new ZarNotSupportedException($"{Description}: member {path} is a sparse file");
                    return te;
                case EntryType.Hardlink:
                    p = e.LinkTarget ?? "";
                    break;
                case EntryType.Symlink:
                    var target = e.LinkTarget ?? "";
                    p = ZarPath.NormalizeClamped(target.StartsWith('/') ? target : ZarPath.Parent(p) + "/" + target);
                    break;
                default:
                    throw new ZarFormatException($"{Description}: member {path} is a {e.Type}, not a file");
            }
        }
        throw new ZarFormatException($"{Description}: member {path}: too many levels of links");
    }

    public bool Exists(string path) => Resolve(path) != null;

    public Stream Open(string path)
    {
        var te = Resolve(path) ?? throw new ZarNotFoundException($"{Description}: member {path} is missing");
        return new SubStream(OpenFile(), te.DataOffset, te.Entry.Size);
    }

    public long Length(string path) =>
        (Resolve(path) ?? throw new ZarNotFoundException($"{Description}: member {path} is missing")).Entry.Size;

    public void Dispose() { }
}
