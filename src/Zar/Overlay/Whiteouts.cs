using Zar.Model;

namespace Zar.Overlay;

/// <summary>How deletions appear in a single layer's tree.</summary>
public enum WhiteoutFormat
{
    /// <summary>As in OCI layer tars: empty regular files <c>.wh.NAME</c> and <c>DIR/.wh..wh..opq</c>.</summary>
    Aufs,
    /// <summary>As overlayfs lower directories: character device 0/0 named NAME, and
    /// <c>trusted.overlay.opaque=y</c> on opaque directories (mountable as a lowerdir as is).</summary>
    Overlay,
}

/// <summary>
/// The one set of overlay rules (OCI image-spec layer.md, overlayfs): what a whiteout is in either form,
/// what makes a directory opaque, and how to write both. The layer applier (<c>LayerMerger</c>), the
/// per-layer trees, the form conversion and <see cref="OverlayFileSystem"/> all use these and no others.
/// </summary>
public static class Whiteouts
{
    public const string Prefix = ".wh.";
    public const string OpaqueMarker = ".wh..wh..opq";
    /// <summary>AUFS bookkeeping (<c>.wh..wh.plnk</c>, <c>.wh..wh.aufs</c>): not content, ignored.</summary>
    public const string MetaPrefix = ".wh..wh.";
    public const string OpaqueXattr = "trusted.overlay.opaque";
    /// <summary>What <c>mkfs.erofs --aufs</c> puts on a directory holding whiteouts: overlayfs then
    /// looks the directory up through its layers instead of iterating it directly, and sees the devices.</summary>
    public const string OriginXattr = "trusted.overlay.origin";
    /// <summary>overlayfs's own xattr namespace: bookkeeping that a merged view does not show (the kernel hides it too).</summary>
    public const string OverlayXattrPrefix = "trusted.overlay.";
    static readonly byte[] Yes = "y"u8.ToArray();

    /// <summary>True for names that are whiteout-format bookkeeping and never a visible file: <c>.wh.*</c>.</summary>
    public static bool IsReservedName(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The name an AUFS whiteout file deletes (<c>.wh.NAME</c> → NAME), or null when
    /// <paramref name="name"/> is not one (the opaque marker and AUFS metadata are not).</summary>
    public static string? AufsTarget(string name) =>
        name.StartsWith(Prefix, StringComparison.Ordinal) && !name.StartsWith(MetaPrefix, StringComparison.Ordinal)
            ? name[Prefix.Length..] : null;

    /// <summary>An overlayfs whiteout: a character device 0/0.</summary>
    public static bool IsOverlayWhiteout(Entry e) => e.Type == EntryType.CharDevice && e.DevMajor == 0 && e.DevMinor == 0;

    /// <summary>An overlayfs opaque directory: <c>trusted.overlay.opaque=y</c>.</summary>
    public static bool HasOpaqueXattr(Entry dir) => dir.IsDirectory && dir.GetXattr(OpaqueXattr) is [(byte)'y'];

    /// <summary>A directory of a layer that hides everything below it, in either form.</summary>
    public static bool IsOpaque(IReadOnlyFileSystem layer, Entry dir) =>
        HasOpaqueXattr(dir) || layer.Lookup(dir, OpaqueMarker) != null;

    /// <summary>True when <paramref name="name"/> in <paramref name="dir"/> of <paramref name="layer"/> deletes lower
    /// layers' <paramref name="name"/>: an AUFS <c>.wh.NAME</c> beside it, or NAME itself a 0/0 device.</summary>
    public static bool IsDeleted(IReadOnlyFileSystem layer, Entry dir, string name, Entry? entry) =>
        entry != null && IsOverlayWhiteout(entry) || layer.Lookup(dir, Prefix + name) != null;

    /// <summary>The whiteout that deletes <paramref name="name"/> in <paramref name="dir"/>, in the given form;
    /// owner and times from <paramref name="template"/> (the tar's whiteout entry) when there is one.</summary>
    public static Entry Make(WhiteoutFormat format, string dir, string name, Entry? template) => format == WhiteoutFormat.Aufs
        ? new Entry
        {
            Path = ZarPath.Join(dir, Prefix + name), Type = EntryType.Regular, Mode = template?.Mode ?? 0x1A4,
            Uid = template?.Uid ?? 0, Gid = template?.Gid ?? 0, MtimeSeconds = template?.MtimeSeconds ?? 0,
            MtimeNanoseconds = template?.MtimeNanoseconds ?? 0,
        }
        : new Entry
        {
            Path = ZarPath.Join(dir, name), Type = EntryType.CharDevice, Mode = template?.Mode ?? 0,
            Uid = template?.Uid ?? 0, Gid = template?.Gid ?? 0, MtimeSeconds = template?.MtimeSeconds ?? 0,
            MtimeNanoseconds = template?.MtimeNanoseconds ?? 0,
        };

    /// <summary>The AUFS opaque marker file of <paramref name="dir"/>.</summary>
    public static Entry MakeOpaqueMarker(string dir, Entry? template) => new()
    {
        Path = ZarPath.Join(dir, OpaqueMarker), Type = EntryType.Regular, Mode = template?.Mode ?? 0x1A4,
        Uid = template?.Uid ?? 0, Gid = template?.Gid ?? 0, MtimeSeconds = template?.MtimeSeconds ?? 0,
        MtimeNanoseconds = template?.MtimeNanoseconds ?? 0,
    };

    /// <summary><paramref name="dir"/> with <paramref name="name"/> set to <paramref name="value"/> (replacing it), xattrs kept sorted.</summary>
    public static Entry WithXattr(Entry dir, string name, byte[] value)
    {
        var xattrs = dir.Xattrs.Where(x => x.Name != name).Append(new Xattr(name, value)).ToList();
        xattrs.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
        return dir.With(xattrs: xattrs);
    }

    /// <summary><paramref name="dir"/> marked opaque the overlayfs way.</summary>
    public static Entry WithOpaqueXattr(Entry dir) => WithXattr(dir, OpaqueXattr, Yes);

    /// <summary>The xattrs a merged view shows: overlayfs bookkeeping removed.</summary>
    public static IReadOnlyList<Xattr> Visible(IReadOnlyList<Xattr> xattrs)
    {
        foreach (var x in xattrs)
            if (x.Name.StartsWith(OverlayXattrPrefix, StringComparison.Ordinal))
                return xattrs.Where(y => !y.Name.StartsWith(OverlayXattrPrefix, StringComparison.Ordinal)).ToArray();
        return xattrs;
    }
}
