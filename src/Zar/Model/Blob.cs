namespace Zar.Model;

/// <summary>
/// Bytes addressable by position: a local file, a spilled layer, a memory map, an archive member, and
/// (later) a content-store chunk or an HTTP Range reader. This is what a <see cref="FileSegment"/> points
/// into. Reads are positional and thread-safe: there is no shared stream position, so many threads may
/// read one blob at once. A blob is owned by the reader that made it and lives as long as that reader.
/// </summary>
public interface IBlob
{
    /// <summary>For messages: "layer 2/3 of oci:img (spilled tar)", "/srv/root/etc/passwd".</summary>
    string Description { get; }

    /// <summary>Total bytes, or -1 when not known up front.</summary>
    long Length { get; }

    /// <summary>Reads up to <c>destination.Length</c> bytes at <paramref name="offset"/>; returns the count
    /// (0 only at the end of the blob). Throws <see cref="ZarException"/> on I/O errors.</summary>
    int ReadAt(long offset, Span<byte> destination);
}

/// <summary>A blob that can also hand out a forward-only stream, cheaper than positional reads for one
/// front-to-back pass (a compressed layer: one decompressor instead of a re-open per backward read).</summary>
public interface ISequentialBlob : IBlob
{
    /// <summary>A fresh stream of the blob's bytes from offset 0. The caller disposes it.</summary>
    Stream OpenSequential();
}

/// <summary>A blob whose bytes are a range of a local file: writers may point at it (an EROFS device,
/// a tarfs layer) and a FUSE server may pass reads through to it.</summary>
public interface ILocalFileBlob : IBlob
{
    /// <summary>The file's path.</summary>
    string FilePath { get; }

    /// <summary>Where blob offset 0 is in the file.</summary>
    long FileOffset { get; }
}

public static class BlobExtensions
{
    /// <summary>Reads exactly <c>destination.Length</c> bytes or throws a format error naming the blob.</summary>
    public static void ReadExactlyAt(this IBlob blob, long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = blob.ReadAt(offset + done, destination[done..]);
            if (n <= 0)
                throw new ZarFormatException($"{blob.Description}: ends at {offset + done}, inside data that should reach {offset + destination.Length}");
            done += n;
        }
    }
}
