namespace Zar.Model;

/// <summary>
/// One run of a file's bytes: file bytes [<see cref="Offset"/>, <see cref="End"/>) are blob bytes
/// [<see cref="BlobOffset"/>, <see cref="BlobOffset"/> + <see cref="Length"/>).
/// </summary>
public readonly record struct FileSegment(long Offset, long Length, IBlob Blob, long BlobOffset)
{
    public long End => Offset + Length;
    public long BlobEnd => BlobOffset + Length;
}

/// <summary>
/// Where a regular file's bytes live: segments in logical order, not overlapping, inside the file size;
/// the gaps between them are holes (read as zeros). The one model every reader uses to say where bytes
/// are, so that consumers can copy them (extract, zar writer), point at them (EROFS chunks on an extra
/// device, tarfs), or serve them (FUSE) without each reader growing its own notion. Immutable and
/// thread-safe; reads find their segment by binary search, so a map of a million extents costs
/// O(log n) per read.
/// </summary>
public sealed class FileData
{
    readonly FileSegment[] _segments;
    IReadOnlyList<DataExtent>? _extents;

    public static readonly FileData Empty = new(0, []);

    /// <summary>Logical file size (holes included).</summary>
    public long Size { get; }

    public IReadOnlyList<FileSegment> Segments => _segments;

    /// <summary>Bytes held by segments (the file size minus its holes).</summary>
    public long StoredBytes { get; }

    /// <summary>True when some part of the file is a hole.</summary>
    public bool HasHoles => StoredBytes < Size;

    /// <param name="segments">Ordered, non-overlapping, within [0, size); empty segments are dropped.</param>
    public FileData(long size, IEnumerable<FileSegment> segments)
    {
        if (size < 0) throw new ZarFormatException($"negative file size {size}");
        var list = new List<FileSegment>();
        long lastEnd = 0, stored = 0;
        foreach (var s in segments)
        {
            if (s.Length == 0) continue;
            if (s.Length < 0 || s.Offset < lastEnd || s.Offset > size - s.Length || s.BlobOffset < 0)
                throw new ZarFormatException($"{s.Blob.Description}: data segment [{s.Offset}, +{s.Length}) is out of order or outside the file size {size}");
            list.Add(s);
            lastEnd = s.End;
            stored += s.Length;
        }
        _segments = list.ToArray();
        Size = size;
        StoredBytes = stored;
    }

    /// <summary>A file stored in one piece at <paramref name="blobOffset"/>.</summary>
    public static FileData Contiguous(long size, IBlob blob, long blobOffset) =>
        size == 0 ? Empty : new FileData(size, [new FileSegment(0, size, blob, blobOffset)]);

    /// <summary>
    /// A file whose data extents are stored back to back from <paramref name="blobOffset"/> (a tar member,
    /// sparse or not; a zar image's data). <paramref name="extents"/> null means the whole file.
    /// </summary>
    public static FileData Packed(long size, IReadOnlyList<DataExtent>? extents, IBlob blob, long blobOffset)
    {
        if (extents == null) return Contiguous(size, blob, blobOffset);
        var segments = new FileSegment[extents.Count];
        long at = blobOffset;
        for (int i = 0; i < extents.Count; i++)
        {
            segments[i] = new FileSegment(extents[i].Offset, extents[i].Length, blob, at);
            at += extents[i].Length;
        }
        return new FileData(size, segments);
    }

    /// <summary>The ranges that hold data (adjacent segments merged); everything else is a hole.</summary>
    public IReadOnlyList<DataExtent> Extents => _extents ??= ComputeExtents();

    IReadOnlyList<DataExtent> ComputeExtents()
    {
        var list = new List<DataExtent>(_segments.Length);
        foreach (var s in _segments)
        {
            if (list.Count > 0 && list[^1].End == s.Offset) list[^1] = new DataExtent(list[^1].Offset, list[^1].Length + s.Length);
            else list.Add(new DataExtent(s.Offset, s.Length));
        }
        return list;
    }

    /// <summary>Index of the first segment that ends after <paramref name="offset"/> (Segments.Count when none).</summary>
    public int SegmentAt(long offset)
    {
        int lo = 0, hi = _segments.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_segments[mid].End <= offset) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// Reads file bytes at <paramref name="offset"/>: up to <c>destination.Length</c>, holes as zeros.
    /// Returns the count (0 at or past the end). A blob that ends inside a segment is a format error.
    /// </summary>
    public int Read(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= Size || destination.IsEmpty) return 0;
        int want = (int)Math.Min(destination.Length, Size - offset);
        var dest = destination[..want];
        int i = SegmentAt(offset);
        int done = 0;
        while (done < want)
        {
            long at = offset + done;
            if (i >= _segments.Length || at < _segments[i].Offset)
            {
                long holeEnd = i < _segments.Length ? _segments[i].Offset : Size;
                int zeros = (int)Math.Min(want - done, holeEnd - at);
                dest.Slice(done, zeros).Clear();
                done += zeros;
                continue;
            }
            var s = _segments[i];
            int n = (int)Math.Min(want - done, s.End - at);
            s.Blob.ReadExactlyAt(s.BlobOffset + (at - s.Offset), dest.Slice(done, n));
            done += n;
            i++;
        }
        return want;
    }
}
