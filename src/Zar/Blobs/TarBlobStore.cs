using Zar.Model;
using Zar.Sources.Tar;

namespace Zar.Blobs;

/// <summary>
/// An uncompressed tar (docker save output, oci-archive) read in place: one pass over the headers indexes the
/// members by path and data offset; members are then read as windows of the file, never extracted.
/// Symlinked and hardlinked members (legacy docker save links duplicate layer.tar files) resolve inside the archive.
/// </summary>
public sealed class TarBlobStore : IBlobStore
{
    readonly string _file;
    readonly Dictionary<string, TarEntry> _members = new(StringComparer.Ordinal);
    public string Description { get; }

    public TarBlobStore(string file, string description)
    {
        _file = file;
        Description = description;
        using var fs = FileWindow.OpenFile(file, description);
        using (var probe = LayerStream.Open(fs, out var compression, leaveOpen: true))
            if (compression != LayerCompression.None)
                throw new ZarNotSupportedException($"{description}: the archive is {compression.ToString().ToLowerInvariant()}-compressed; decompress it first");
        fs.Position = 0;
        using var reader = new TarReader(fs, description, leaveOpen: true);
        while (reader.Next() is { } te)
            if (te.Entry.Path.Length > 0) _members[te.Entry.Path] = te;
    }

    public IEnumerable<string> MemberPaths => _members.Keys;

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

    public long Length(string path) => Locate(path).Length;

    public Stream Open(string path) => Locate(path).Open(Description);

    /// <summary>The member's data inside the archive file.</summary>
    public FileWindow Locate(string path)
    {
        var te = Resolve(path) ?? throw new ZarNotFoundException($"{Description}: member {path} is missing");
        return new FileWindow(_file, te.DataOffset, te.Entry.Size);
    }

    public void Dispose() { }
}
