using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Layers;

namespace Zar.Sources;

/// <summary>
/// Opens whatever a user names as a readable filesystem: a directory, or an image file of any
/// format Zar reads (recognised by its bytes, never by its name).
/// </summary>
public static class FileSystemSource
{
    /// <summary>Format openers tried in order on a file; each returns null when the bytes are not its format.</summary>
    public static readonly List<Func<string, IReadOnlyFileSystem?>> FileOpeners = new()
    {
        path => ZarSniff.IsZar(path) ? ZarImage.Open(path) : null,
        path => Formats.Erofs.ErofsImage.IsErofs(path) ? Formats.Erofs.ErofsImage.Open(path) : null,
        path => Formats.Flist.FlistImage.IsFlist(path) ? Formats.Flist.FlistImage.Open(path) : null,
    };

    static readonly string[] ImageTransports = { "docker-archive:", "oci:", "oci-archive:", "tar:", "docker:" };

    /// <summary>
    /// A directory, a zar or EROFS image file, or a container image reference (<c>docker-archive:</c>,
    /// <c>oci:</c>, <c>oci-archive:</c>, <c>docker://</c>, <c>tar:</c>, or an existing archive/layer/OCI
    /// layout recognised by its content), whose layers are merged into one tree.
    /// </summary>
    public static IReadOnlyFileSystem Open(string spec, ImageSourceOptions? imageOptions = null, LayerStackOptions? stackOptions = null)
    {
        if (spec.StartsWith("dir:", StringComparison.Ordinal)) return new HostDirectory(spec[4..]);
        if (ImageTransports.Any(t => spec.StartsWith(t, StringComparison.Ordinal)))
            return ImageSources.OpenFileSystem(spec, imageOptions, stackOptions);
        if (Directory.Exists(spec))
            return File.Exists(Path.Combine(spec, "oci-layout")) ? ImageSources.OpenFileSystem("oci:" + spec, imageOptions, stackOptions) : new HostDirectory(spec);
        if (!File.Exists(spec)) throw new ZarNotFoundException($"{spec}: no such file or directory");
        foreach (var opener in FileOpeners)
        {
            var fs = opener(spec);
            if (fs != null) return fs;
        }
        if (IsTarLike(spec)) return ImageSources.OpenFileSystem(spec, imageOptions, stackOptions);
        throw new ZarFormatException($"{spec}: not an image Zar can read (not a zar or EROFS image, a container image or layer, nor a directory)");
    }

    /// <summary>A tar (docker save, OCI archive, layer) or a gzip/zstd stream, by its bytes.</summary>
    static bool IsTarLike(string path)
    {
        using var f = File.OpenHandle(path);
        Span<byte> head = stackalloc byte[512];
        int n = RandomAccess.Read(f, head, 0);
        if (n >= 2 && head[0] == 0x1F && head[1] == 0x8B) return true;
        if (n >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD) return true;
        return n == 512 && Tar.TarHeader.ChecksumMatches(head);
    }
}

static class ZarSniff
{
    public static bool IsZar(string path)
    {
        try
        {
            using var f = File.OpenHandle(path);
            long len = RandomAccess.GetLength(f);
            if (len < ZarFooter.Size) return false;
            Span<byte> magic = stackalloc byte[8];
            RandomAccess.Read(f, magic, len - ZarFooter.Size);
            return magic.SequenceEqual(ZarFooter.Magic);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ZarException($"{path}: cannot read: {e.Message}");
        }
    }
}
