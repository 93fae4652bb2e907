using Zar.IO;
using Zar.Model;

namespace Zar.Blobs;

/// <summary>
/// Where a store member's bytes are: <see cref="Length"/> bytes at <see cref="Offset"/> of a local file (a whole
/// file in a directory store, a member's data inside an uncompressed archive). Enough to read the member at
/// random positions without a stream, and to hand it out as a positional blob.
/// </summary>
public readonly record struct FileWindow(string File, long Offset, long Length)
{
    /// <summary>A seekable stream of just the window.</summary>
    public Stream Open(string description)
    {
        var file = OpenFile(File, description);
        return Offset == 0 && Length == file.Length ? file : new SubStream(file, Offset, Length);
    }

    /// <summary>The window as a positional blob (reads need no stream and no lock).</summary>
    public FileBlob OpenBlob(string description) => new(File, Offset, Length, description);

    /// <summary>Opens a local file for reading, with one-line errors naming <paramref name="description"/>.</summary>
    public static FileStream OpenFile(string path, string description)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ZarNotFoundException($"{description}: no such file");
        }
        catch (UnauthorizedAccessException e) { throw new ZarException($"{description}: cannot read: {e.Message}", e); }
    }
}
