using Microsoft.Win32.SafeHandles;
using Zar.Model;

namespace Zar.Blobs;

/// <summary>A local file (or a window of one) as a blob: positional reads with pread, no shared position.</summary>
public sealed class FileBlob : ILocalFileBlob, IDisposable
{
    readonly SafeFileHandle _handle;
    readonly long _end;

    public string FilePath { get; }
    public long FileOffset { get; }
    public long Length { get; }
    public string Description { get; }

    /// <summary>Opens <paramref name="path"/> for reading; the window [offset, offset+length) (length -1: to the end).</summary>
    public FileBlob(string path, long offset = 0, long length = -1, string? description = null)
    {
        try { _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ZarException($"{path}: cannot open: {e.Message}"); }
        long fileLength = RandomAccess.GetLength(_handle);
        if (offset < 0 || offset > fileLength || length > fileLength - offset)
        {
            _handle.Dispose();
            throw new ZarFormatException($"{path}: range [{offset}, +{length}) is beyond the end of the file ({fileLength} bytes)");
        }
        FilePath = path;
        FileOffset = offset;
        Length = length < 0 ? fileLength - offset : length;
        _end = offset + Length;
        Description = description ?? path;
    }

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= Length || destination.IsEmpty) return 0;
        int want = (int)Math.Min(destination.Length, Length - offset);
        try { return RandomAccess.Read(_handle, destination[..want], FileOffset + offset); }
        catch (IOException e) { throw new ZarException($"{Description}: cannot read: {e.Message}"); }
    }

    public void Dispose() => _handle.Dispose();

    public override string ToString() => Description;
}
