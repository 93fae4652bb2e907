using System.IO.Compression;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// A layer index (".zidx", seekable-gzip.md §10): for one layer blob, left byte-identical, the access points
/// into its compressed stream (each with its 32 KiB window, stored compressed, and the sha256 of its span) and
/// the table of its tar members (header offsets plus the header bytes themselves). Small (under 1% of the
/// uncompressed layer), so it is held in memory whole. Layout: header, points, window area, TOC (raw deflate of
/// the records followed by the concatenated header bytes).
/// </summary>
public sealed class LayerIndex
{
    public const string FileExtension = ".zidx";
    public const string MediaType = "application/vnd.zar.layer-index.v1";
    public const long DefaultSpanSize = 4 << 20;

    readonly byte[] _windows;
    readonly byte[] _headerBytes;
    readonly long[] _headerStarts;

    public LayerIndexHeader Header { get; }
    public IReadOnlyList<AccessPoint> Points { get; }
    public IReadOnlyList<TocRecord> Toc { get; }
    public string Description { get; }

    public LayerIndex(LayerIndexHeader header, AccessPoint[] points, byte[] windows, TocRecord[] toc, byte[] headerBytes, string description)
    {
        Header = header;
        Points = points;
        _windows = windows;
        Toc = toc;
        _headerBytes = headerBytes;
        Description = description;
        _headerStarts = new long[toc.Length + 1];
        for (int i = 0; i < toc.Length; i++) _headerStarts[i + 1] = _headerStarts[i] + toc[i].HeaderLength;
        if (_headerStarts[^1] != headerBytes.Length) throw new ZarFormatException($"{description}: TOC header bytes do not add up (corrupted)");
        for (int i = 0; i < points.Length; i++)
        {
            var p = points[i];
            bool ordered = i == 0 || (p.Out >= points[i - 1].Out && p.In >= points[i - 1].In);
            if (!ordered || p.Out > header.UncompressedSize || p.Start < 0 || p.In > header.BlobSize || p.Bits > 7
                || p.WindowLength is < 0 or > 32768 || p.WindowOffset < 0 || p.WindowOffset + p.WindowStoredLength > windows.Length)
                throw new ZarFormatException($"{description}: access point {i} is out of order or out of range (corrupted)");
        }
    }

    /// <summary>The bytes of member <paramref name="i"/>'s header blocks, as they are in the tar.</summary>
    public ReadOnlySpan<byte> HeaderBytes(int i) => _headerBytes.AsSpan((int)_headerStarts[i], Toc[i].HeaderLength);

    /// <summary>The last access point at or before uncompressed offset <paramref name="offset"/>.</summary>
    public int PointAt(long offset)
    {
        int lo = 0, hi = Points.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (Points[mid].Out <= offset) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>Uncompressed end of span <paramref name="i"/>.</summary>
    public long OutEnd(int i) => i + 1 < Points.Count ? Points[i + 1].Out : Header.UncompressedSize;

    /// <summary>Compressed end (exclusive) of span <paramref name="i"/>: what its digest covers.</summary>
    public long InEnd(int i) => i + 1 < Points.Count ? Points[i + 1].In : Header.BlobSize;

    /// <summary>The uncompressed history point <paramref name="i"/> needs (empty for member/frame starts).</summary>
    public byte[] Window(int i)
    {
        var p = Points[i];
        if (p.WindowLength == 0) return [];
        var window = new byte[p.WindowLength];
        try
        {
            using var inflate = new DeflateStream(new MemoryStream(_windows, (int)p.WindowOffset, p.WindowStoredLength), CompressionMode.Decompress);
            inflate.ReadExactly(window);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new ZarFormatException($"{Description}: window of access point {i} is corrupted", e);
        }
        return window;
    }

    /// <summary>Refuses an index made for another blob.</summary>
    public void CheckBinding(string? digest, long size, string blobDescription)
    {
        if ((digest != null && !string.Equals(digest, Header.BlobDigest, StringComparison.Ordinal)) || (size >= 0 && size != Header.BlobSize))
            throw new ZarFormatException($"{Description}: indexes blob {Header.BlobDigest} ({Header.BlobSize} bytes), not {blobDescription} ({digest ?? "?"}, {size} bytes)");
    }

    public static LayerIndex Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new ZarNotFoundException($"{path}: no such file"); }
        return Read(bytes, path);
    }

    public static LayerIndex Read(byte[] bytes, string description)
    {
        var h = LayerIndexHeader.Read(bytes, description);
        long pointsLength = (long)h.PointCount * AccessPoint.Size;
        if (!Inside(h.PointsOffset, pointsLength) || !Inside(h.WindowsOffset, h.WindowsLength) || !Inside(h.TocOffset, h.TocStoredLength)
            || h.TocRawLength > int.MaxValue)
            throw new ZarFormatException($"{description}: layer index sections lie outside its {bytes.Length} bytes (truncated)");
        var pointBytes = bytes.AsSpan((int)h.PointsOffset, (int)pointsLength);
        var windows = bytes.AsSpan((int)h.WindowsOffset, (int)h.WindowsLength);
        var tocStored = bytes.AsSpan((int)h.TocOffset, (int)h.TocStoredLength);
        if (Crc32C.Compute(pointBytes) != h.PointsCrc || Crc32C.Compute(windows) != h.WindowsCrc || Crc32C.Compute(tocStored) != h.TocCrc)
            throw new ZarFormatException($"{description}: layer index section checksum mismatch (corrupted)");
        var points = new AccessPoint[h.PointCount];
        for (int i = 0; i < points.Length; i++) points[i] = AccessPoint.Read(pointBytes.Slice(i * AccessPoint.Size, AccessPoint.Size));

        var toc = new byte[h.TocRawLength];
        try
        {
            using var inflate = new DeflateStream(new MemoryStream(bytes, (int)h.TocOffset, (int)h.TocStoredLength), CompressionMode.Decompress);
            inflate.ReadExactly(toc);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new ZarFormatException($"{description}: layer index TOC is corrupted", e);
        }
        long recordsLength = (long)h.EntryCount * TocRecord.Size;
        if (recordsLength > toc.Length) throw new ZarFormatException($"{description}: layer index TOC is shorter than its {h.EntryCount} records");
        var records = new TocRecord[h.EntryCount];
        for (int i = 0; i < records.Length; i++)
        {
            records[i] = TocRecord.Read(toc.AsSpan(i * TocRecord.Size, TocRecord.Size));
            if (records[i].HeaderLength < 0 || records[i].HeaderOffset < 0) throw new ZarFormatException($"{description}: TOC record {i} is corrupted");
        }
        return new LayerIndex(h, points, windows.ToArray(), records, toc.AsSpan((int)recordsLength).ToArray(), description);

        bool Inside(long offset, long length) => offset >= LayerIndexHeader.Size && length >= 0 && offset + length <= bytes.Length;
    }

    /// <summary>The index as bytes (its sha256 is its identity).</summary>
    public byte[] ToBytes()
    {
        var tocRaw = new MemoryStream();
        var record = new byte[TocRecord.Size];
        foreach (var r in Toc) { r.Write(record); tocRaw.Write(record); }
        tocRaw.Write(_headerBytes);
        var tocStored = new MemoryStream();
        using (var deflate = new DeflateStream(tocStored, CompressionLevel.Optimal, leaveOpen: true))
            deflate.Write(tocRaw.GetBuffer(), 0, (int)tocRaw.Length);

        var points = new byte[Points.Count * AccessPoint.Size];
        for (int i = 0; i < Points.Count; i++) Points[i].Write(points.AsSpan(i * AccessPoint.Size));
        long pointsOffset = LayerIndexHeader.Size, windowsOffset = pointsOffset + points.Length, tocOffset = windowsOffset + _windows.Length;
        var stored = tocStored.ToArray();
        var header = Header with
        {
            PointCount = Points.Count,
            EntryCount = Toc.Count,
            PointsOffset = pointsOffset,
            WindowsOffset = windowsOffset,
            WindowsLength = _windows.Length,
            TocOffset = tocOffset,
            TocStoredLength = stored.Length,
            TocRawLength = tocRaw.Length,
            PointsCrc = Crc32C.Compute(points),
            WindowsCrc = Crc32C.Compute(_windows),
            TocCrc = Crc32C.Compute(stored),
        };
        var bytes = new byte[tocOffset + stored.Length];
        header.Write(bytes);
        points.CopyTo(bytes.AsSpan((int)pointsOffset));
        _windows.CopyTo(bytes.AsSpan((int)windowsOffset));
        stored.CopyTo(bytes.AsSpan((int)tocOffset));
        return bytes;
    }

    public void Save(string path)
    {
        using var file = new AtomicFile(path);
        file.Stream.Write(ToBytes());
        file.Commit();
    }

    /// <summary>Bytes of windows (compressed) plus points plus TOC: what the index costs.</summary>
    public long StoredSize => LayerIndexHeader.Size + (long)Points.Count * AccessPoint.Size + _windows.Length + Toc.Count * (long)TocRecord.Size + _headerBytes.Length;
}
