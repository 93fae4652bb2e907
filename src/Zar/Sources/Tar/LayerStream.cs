using Zar.IO;
using System.IO.Compression;
using Zar.Model;
using Zar.Sources;

namespace Zar.Sources.Tar;

public enum LayerCompression { None, Gzip, Zstd }

/// <summary>
/// Opens a layer blob as an uncompressed tar stream. The compression is recognised by its magic bytes only:
/// media types and file names lie often enough (".tar" that is gzip, "layer.tar.gz" that is plain).
/// </summary>
public static class LayerStream
{
    const int SniffLength = 6;

    /// <summary>
    /// Returns a forward-only stream of the uncompressed tar. Concatenated gzip members and zstd frames
    /// (including skippable ones) are decompressed as one stream. Corrupt compressed data surfaces as
    /// <see cref="InvalidDataException"/> from Read (the tar reader turns it into a ZarFormatException).
    /// .NET's GZipStream ends silently at a truncated gzip member (zstd does not): the tar reader still catches
    /// truncation inside an entry, and a layer's digest is what proves it complete.
    /// </summary>
    public static Stream Open(Stream raw, out LayerCompression compression, bool leaveOpen = false)
    {
        var head = new byte[SniffLength];
        long start = raw.CanSeek ? raw.Position : -1;
        int got = 0;
        while (got < head.Length)
        {
            int n = raw.Read(head, got, head.Length - got);
            if (n <= 0) break;
            got += n;
        }
        var sniffed = head.AsSpan(0, got);
        // A seekable source stays seekable (the tar reader then skips file data by seeking).
        Stream replay;
        if (start >= 0)
        {
            raw.Position = start;
            replay = new OwnedStream(raw, leaveOpen);
        }
        else replay = new PrefixedStream(head, got, raw, leaveOpen);

        var kind = FileSniffer.Identify(sniffed, []);
        switch (kind)
        {
            case FileKind.Gzip:
                compression = LayerCompression.Gzip;
                return new DecompressionErrorStream(new GZipStream(replay, CompressionMode.Decompress, leaveOpen: false), "gzip");
            case FileKind.Zstd:
                compression = LayerCompression.Zstd;
                return new DecompressionErrorStream(
                    new ZstdSharp.DecompressionStream(replay, bufferSize: 0, checkEndOfStream: true, leaveOpen: false), "zstd");
            case FileKind.Bzip2 or FileKind.Xz:
                replay.Dispose();
                throw new ZarNotSupportedException($"layer is {(kind == FileKind.Bzip2 ? "bzip2" : "xz")}-compressed; only uncompressed, gzip and zstd layers are supported");
            default:
                compression = LayerCompression.None;
                return replay;
        }
    }
}

/// <summary>Passes everything through; disposes the inner stream unless asked to leave it open.</summary>
sealed class OwnedStream(Stream inner, bool leaveOpen) : ReadOnlyStream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => inner.CanSeek;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => inner.Position = value; }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen) inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Replays the sniffed bytes, then continues with the underlying stream.</summary>
sealed class PrefixedStream(byte[] prefix, int prefixLength, Stream inner, bool leaveOpen) : ReadOnlyStream
{
    int _prefixPos;
    long _position;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        int n;
        if (_prefixPos < prefixLength)
        {
            n = Math.Min(buffer.Length, prefixLength - _prefixPos);
            prefix.AsSpan(_prefixPos, n).CopyTo(buffer);
            _prefixPos += n;
        }
        else n = inner.Read(buffer);
        _position += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen) inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Gives every decompressor failure one exception type (zstd's own exception included).</summary>
sealed class DecompressionErrorStream(Stream inner, string codec) : ReadOnlyStream
{

    public override int Read(Span<byte> buffer)
    {
        try { return inner.Read(buffer); }
        catch (InvalidDataException ex) { throw new InvalidDataException($"corrupt {codec} data: {ex.Message}", ex); }
        catch (ZstdSharp.ZstdException ex) { throw new InvalidDataException($"corrupt {codec} data: {ex.Message}", ex); }
        catch (EndOfStreamException ex) { throw new InvalidDataException($"truncated {codec} data", ex); }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
