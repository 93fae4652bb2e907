using System.Security.Cryptography;
using Zar.IO;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Tar;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// Builds a <see cref="LayerIndex"/> in one streaming pass over a layer blob (seekable-gzip.md §10.4): hashes the
/// compressed bytes (the blob digest), decompresses while recording access points, hashes the uncompressed tar
/// (the DiffID) and parses it with the one tar reader, keeping each member's header bytes.
/// </summary>
public static class LayerIndexBuilder
{
    /// <summary>Header bytes of one member are kept from the tail of the stream; the tar reader bounds metadata to 1 MiB and reads 128 KiB ahead.</summary>
    const int RetainedBytes = 4 << 20;

    /// <param name="blob">The layer blob from its first byte (gzip, zstd or uncompressed tar).</param>
    /// <param name="expectedDigest">When given, the blob must hash to it.</param>
    /// <param name="expectedDiffId">When given, the uncompressed tar must hash to it.</param>
    public static LayerIndex Build(Stream blob, string description, string? expectedDigest = null, string? expectedDiffId = null,
        long spanSize = LayerIndex.DefaultSpanSize)
    {
        if (spanSize < 64 * 1024) throw new ArgumentOutOfRangeException(nameof(spanSize), "span must be at least 64 KiB");
        using var hashed = new HashingStream(blob);
        var head = new byte[6];
        int got = StreamSkip.ReadFull(hashed, head);
        var kind = FileSniffer.Identify(head.AsSpan(0, got), []);
        var input = new PrefixedStream(head, got, hashed, leaveOpen: true);
        var recorder = new IndexRecorder();
        IndexedCompression compression;
        Stream tar;
        switch (kind)
        {
            case FileKind.Gzip:
                compression = IndexedCompression.Gzip;
                tar = new GzipIndexingStream(input, recorder, spanSize, description);
                break;
            case FileKind.Zstd:
                compression = IndexedCompression.Zstd;
                tar = new ZstdIndexingStream(input, recorder, description);
                break;
            case FileKind.Bzip2 or FileKind.Xz:
                throw new ZarNotSupportedException($"{description}: bzip2/xz layers cannot be indexed; only uncompressed, gzip and zstd layers");
            default:
                compression = IndexedCompression.None;
                tar = new StoredIndexingStream(input, recorder, spanSize);
                break;
        }
        using (tar)
        {
            var tarHash = new HashingStream(tar);
            var retained = new RetainingStream(tarHash, RetainedBytes);
            var toc = new List<TocRecord>();
            var headerBytes = new MemoryStream();
            using (var reader = new TarReader(retained, description, leaveOpen: true) { RequireEndMarker = compression == IndexedCompression.Gzip })
            {
                while (reader.Next() is { } entry)
                {
                    long length = entry.DataOffset - entry.HeaderOffset;
                    var bytes = new byte[length];
                    if (length > int.MaxValue || !retained.TryCopy(entry.HeaderOffset, bytes))
                        throw new ZarNotSupportedException($"{description}: {entry.RawName}: {length} bytes of tar headers, more than an index keeps");
                    toc.Add(new TocRecord(entry.HeaderOffset, (int)length));
                    headerBytes.Write(bytes);
                }
            }
            var drain = new byte[1 << 16];
            while (retained.Read(drain) > 0) { }
            // Bytes after the compressed stream's end (none expected) still belong to the last span.
            for (int n; (n = hashed.Read(drain)) > 0;) recorder.Consumed(drain.AsSpan(0, n));
            if (recorder.Count == 0) recorder.Add(0, 0, 0, compression == IndexedCompression.None ? AccessPointKind.Stored : AccessPointKind.GzipMemberStart, []);
            var (points, windows) = recorder.Finish();
            string digest = hashed.Digest(), diffId = tarHash.Digest();
            if (expectedDigest != null && digest != expectedDigest)
                throw new ZarFormatException($"{description}: blob digest is {digest}, expected {expectedDigest}");
            if (expectedDiffId != null && diffId != expectedDiffId)
                throw new ZarFormatException($"{description}: uncompressed tar digest (diff_id) is {diffId}, expected {expectedDiffId}");
            bool randomAccess = compression != IndexedCompression.Zstd || points.Length > 1 || tarHash.Length64 <= spanSize;
            var header = new LayerIndexHeader
            {
                Compression = compression,
                Flags = randomAccess ? LayerIndexHeader.FlagRandomAccess : 0,
                BlobSize = hashed.Length64,
                UncompressedSize = tarHash.Length64,
                SpanSize = spanSize,
                BlobDigest = digest,
                DiffId = diffId,
            };
            return new LayerIndex(header, points, windows, toc.ToArray(), headerBytes.ToArray(), description);
        }
    }

    /// <summary>Indexes a local layer file.</summary>
    public static LayerIndex BuildFile(string path, long spanSize = LayerIndex.DefaultSpanSize)
    {
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new ZarNotFoundException($"{path}: no such file"); }
        using (file) return Build(file, path, spanSize: spanSize);
    }
}

/// <summary>Counts and sha256-hashes what is read through it.</summary>
internal sealed class HashingStream(Stream inner) : ReadOnlyStream
{
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    public long Length64 { get; private set; }
    public override long Length => Length64;

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        Length64 += n;
        return n;
    }

    public string Digest() => "sha256:" + Convert.ToHexStringLower(_hash.GetHashAndReset());

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }
}
