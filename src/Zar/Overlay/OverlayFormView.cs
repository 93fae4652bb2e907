using Zar.Model;

namespace Zar.Overlay;

/// <summary>
/// A layer whose deletions are AUFS whiteout files (as in OCI layer tars) shown in the form overlayfs keeps
/// in a lower directory: <c>.wh.NAME</c> becomes a character device 0/0 named NAME (owner, mode and times
/// of the whiteout file), <c>.wh..wh..opq</c> becomes <c>trusted.overlay.opaque=y</c> on its directory, and
/// a directory holding whiteouts gets an empty <c>trusted.overlay.origin</c> (as <c>mkfs.erofs --aufs</c>
/// does) so overlayfs looks it up through the layers instead of iterating it directly. A whiteout whose
/// name the layer itself holds is dropped: it deletes lower layers only, and the entry hides them anyway.
/// AUFS metadata (<c>.wh..wh.*</c>) is dropped. Everything else, file data included, is the layer's own.
/// </summary>
public sealed class OverlayFormView(IReadOnlyFileSystem layer, bool ownsLayer = false) : IReadOnlyFileSystem
{
    static readonly byte[] Empty = [];

    public string Description => layer.Description;

    public Entry Root => Directory(layer.Root);

    public Entry? Lookup(string path)
    {
        if (path.Length == 0) return Root;
        var name = ZarPath.Name(path);
        if (Whiteouts.IsReservedName(name)) return null;
        var e = layer.Lookup(path);
        if (e != null) return e.IsDirectory ? Directory(e) : e;
        var whiteout = layer.Lookup(ZarPath.Join(ZarPath.Parent(path), Whiteouts.Prefix + name));
        return whiteout is { IsDirectory: false } ? Whiteouts.Make(WhiteoutFormat.Overlay, ZarPath.Parent(path), name, whiteout).With(inode: whiteout.Inode) : null;
    }

    public IEnumerable<Entry> List(Entry directory)
    {
        var children = layer.List(directory).ToList();
        var names = new HashSet<string>(children.Select(c => c.Name), StringComparer.Ordinal);
        var result = new List<Entry>(children.Count);
        foreach (var c in children)
        {
            if (Whiteouts.IsReservedName(c.Name))
            {
                if (!c.IsDirectory && Whiteouts.AufsTarget(c.Name) is { } target && !names.Contains(target))
                    result.Add(Whiteouts.Make(WhiteoutFormat.Overlay, directory.Path, target, c).With(inode: c.Inode));
                continue;
            }
            result.Add(c.IsDirectory ? Directory(c) : c);
        }
        result.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
        return result;
    }

    /// <summary>A directory with its opaque marker and whiteouts said the overlayfs way.</summary>
    Entry Directory(Entry dir)
    {
        bool opaque = false, whiteouts = false;
        var children = layer.List(dir).ToList();
        HashSet<string>? names = null;
        foreach (var c in children)
        {
            if (c.IsDirectory || !Whiteouts.IsReservedName(c.Name)) continue;
            if (c.Name == Whiteouts.OpaqueMarker) opaque = true;
            else if (Whiteouts.AufsTarget(c.Name) is { } target)
            {
                names ??= new HashSet<string>(children.Select(x => x.Name), StringComparer.Ordinal);
                whiteouts |= !names.Contains(target);
            }
        }
        if (opaque) dir = Whiteouts.WithOpaqueXattr(dir);
        if (whiteouts) dir = Whiteouts.WithXattr(dir, Whiteouts.OriginXattr, Empty);
        return dir;
    }

    public FileData GetData(Entry file) => layer.GetData(file);

    public int Read(Entry file, long offset, Span<byte> destination) => layer.Read(file, offset, destination);

    public void Dispose()
    {
        if (ownsLayer) layer.Dispose();
    }
}
