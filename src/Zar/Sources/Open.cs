using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;

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
    };

    public static IReadOnlyFileSystem Open(string spec)
    {
        if (spec.StartsWith("dir:", StringComparison.Ordinal)) return new HostDirectory(spec[4..]);
        if (Directory.Exists(spec)) return new HostDirectory(spec);
        if (!File.Exists(spec)) throw new ZarNotFoundException($"{spec}: no such file or directory");
        foreach (var opener in FileOpeners)
        {
            var fs = opener(spec);
            if (fs != null) return fs;
        }
        throw new ZarFormatException($"{spec}: not an image Zar can read (not a zar or EROFS image, nor a directory)");
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
