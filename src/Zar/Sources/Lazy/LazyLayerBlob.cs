using System.Collections.Concurrent;
using System.IO.Compression;
using System.Security.Cryptography;
using Zar.Blobs;
using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Native;

namespace Zar.Sources.Lazy;

/// <summary>
/// A layer's uncompressed tar served from its index over the compressed blob (a local file, or a registry blob
/// read by HTTP Range): a read decompresses only the spans it touches, from their access points. Every span's
/// compressed bytes are checked against the index's sha256 before use (re-fetched on a mismatch, then a clear
/// error), so corrupt data is never returned. Decompressed spans go to the shared <see cref="SpanCache"/>.
/// A single-frame zstd layer has no inner access points: it is fetched whole, checked, and decompressed to a
/// temporary file on first read.
/// </summary>
public sealed class LazyLayerBlob : IBlob, IDisposable
{
    const int Attempts = 3;

    readonly LayerIndex _index;
    readonly IBlob _compressed;
    readonly SpanCache _cache;
    readonly ConcurrentDictionary<int, Lazy<byte[]>> _inFlight = new();
    readonly object _spillLock = new();
    FileBlob? _spill;
    string? _spillPath;
    readonly string? _tempDirectory;
    long _compressedBytesRead;
    int _lastSpan = int.MinValue;
    readonly bool _readAhead;

    /// <param name="readAhead">When spans are read in order (a file read front to back), fetch the next one in the background.</param>
    public LazyLayerBlob(LayerIndex index, IBlob compressed, SpanCache cache, string? tempDirectory = null, bool readAhead = true)
    {
        _readAhead = readAhead;
        index.CheckBinding(null, compressed.Length, compressed.Description);
        _index = index;
        _compressed = compressed;
        _cache = cache;
        _tempDirectory = tempDirectory;
        Description = $"{compressed.Description}: uncompressed tar (lazy)";
    }

    public LayerIndex Index => _index;
    public string Description { get; }
    public long Length => _index.Header.UncompressedSize;
    /// <summary>Compressed bytes fetched so far (what a read cost).</summary>
    public long CompressedBytesRead => Interlocked.Read(ref _compressedBytesRead);

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= Length || destination.IsEmpty) return 0;
        int want = (int)Math.Min(destination.Length, Length - offset);
        if (!_index.Header.RandomAccess) return Spill().ReadAt(offset, destination[..want]);
        int done = 0;
        while (done < want)
        {
            long at = offset + done;
            int i = _index.PointAt(at);
            var span = Span(i);
            // Two spans read in order: a file read front to back; fetch the next span while this one is copied out.
            if (_readAhead && Interlocked.Exchange(ref _lastSpan, i) == i - 1 && i + 1 < _index.Points.Count) ReadAhead(i + 1);
            long inSpan = at - _index.Points[i].Out;
            int n = (int)Math.Min(want - done, span.Length - inSpan);
            if (n <= 0) throw new ZarFormatException($"{Description}: span {i} ends before offset {at} (index does not match the blob)");
            span.AsSpan((int)inSpan, n).CopyTo(destination[done..]);
            done += n;
        }
        return want;
    }

    void ReadAhead(int i)
    {
        if (_cache.Contains(_index.Header.BlobDigest, i) || _inFlight.ContainsKey(i)) return;
        // A failed read-ahead is forgotten: the read that needs the span fetches it again and reports.
        ThreadPool.QueueUserWorkItem(_ => { try { Span(i); } catch (Exception) { } });
    }

    /// <summary>Span <paramref name="i"/> decompressed: from the cache, or fetched once however many threads ask.</summary>
    byte[] Span(int i)
    {
        if (_cache.TryGet(_index.Header.BlobDigest, i) is { } cached) return cached;
        var lazy = _inFlight.GetOrAdd(i, k => new Lazy<byte[]>(() => Decode(k)));
        try
        {
            var data = lazy.Value;
            _cache.Put(_index.Header.BlobDigest, i, data);
            return data;
        }
        finally { _inFlight.TryRemove(new KeyValuePair<int, Lazy<byte[]>>(i, lazy)); }
    }

    /// <summary>The compressed bytes of span <paramref name="i"/>, checked against its digest.</summary>
    byte[] Fetch(int i)
    {
        var p = _index.Points[i];
        long start = p.Start, end = _index.InEnd(i);
        if (end - start > int.MaxValue) throw new ZarNotSupportedException($"{Description}: span {i} is {end - start} bytes, too large to fetch at once");
        var bytes = new byte[end - start];
        for (int attempt = 1; ; attempt++)
        {
            ReadRange(start, bytes);
            Interlocked.Add(ref _compressedBytesRead, bytes.Length);
            if (SHA256.HashData(bytes).AsSpan().SequenceEqual(p.SpanDigest)) return bytes;
            if (attempt == Attempts)
                throw new ZarFormatException($"{_compressed.Description}: compressed bytes {start}-{end - 1} (span {i}) do not match the layer index's checksum after {Attempts} attempts (the blob changed or the server returns wrong bytes)");
        }
    }

    const int Chunk = 8 << 20;

    /// <summary>Small spans in one read (one Range request); a whole single-frame layer in 8 MiB pieces, four at a time.</summary>
    void ReadRange(long start, byte[] destination)
    {
        if (destination.Length <= 2 * Chunk) { _compressed.ReadExactlyAt(start, destination); return; }
        int chunks = (destination.Length + Chunk - 1) / Chunk;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k =>
        {
            int from = k * Chunk, length = Math.Min(Chunk, destination.Length - from);
            _compressed.ReadExactlyAt(start + from, destination.AsSpan(from, length));
        });
    }

    byte[] Decode(int i)
    {
        var compressed = Fetch(i);
        var p = _index.Points[i];
        long outLength = _index.OutEnd(i) - p.Out;
        if (outLength > int.MaxValue) throw new ZarNotSupportedException($"{Description}: span {i} decompresses to {outLength} bytes, too large");
        var output = new byte[outLength];
        try
        {
            switch (p.Kind)
            {
                case AccessPointKind.Stored:
                    if (compressed.Length != outLength) throw new ZarFormatException($"{Description}: stored span {i} has the wrong length");
                    return compressed;
                case AccessPointKind.ZstdFrameStart:
                    using (var zstd = new ZstdSharp.DecompressionStream(new MemoryStream(compressed), leaveOpen: false))
                        zstd.ReadExactly(output);
                    return output;
                default:
                    Inflate(i, p, compressed, output);
                    return output;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ZstdSharp.ZstdException)
        {
            throw new ZarFormatException($"{Description}: span {i} does not decompress ({e.Message})", e);
        }
    }

    /// <summary>zran's extract: raw inflate from the point (its leftover bits primed, its window as dictionary);
    /// at a member's end, skip its 8-byte trailer and let zlib parse the next member's gzip header.</summary>
    void Inflate(int i, AccessPoint p, byte[] compressed, byte[] output)
    {
        using var inflater = new ZlibInflater(ZlibInflater.Raw);
        int pos = 0;
        if (p.Bits != 0)
        {
            inflater.Prime(p.Bits, compressed[0] >> (8 - p.Bits));
            pos = 1;
        }
        inflater.SetDictionary(_index.Window(i));
        bool raw = true;
        int produced = 0;
        while (produced < output.Length)
        {
            int rc = inflater.Inflate(compressed.AsSpan(pos), output.AsSpan(produced), ZlibInflater.Z_NO_FLUSH, out int c, out int n);
            pos += c;
            produced += n;
            if (rc == ZlibInflater.Z_STREAM_END)
            {
                if (produced == output.Length) break;
                if (raw) pos += 8;
                while (pos < compressed.Length && compressed[pos] == 0) pos++;
                inflater.Reset(ZlibInflater.Gzip);
                raw = false;
                continue;
            }
            if (rc < 0 && !(rc == ZlibInflater.Z_BUF_ERROR && (c > 0 || n > 0)))
                throw new ZarFormatException($"{Description}: span {i} does not inflate at compressed byte {p.Start + pos}: {inflater.Message} ({rc})");
            if (c == 0 && n == 0)
                throw new ZarFormatException($"{Description}: span {i} ends after {produced} of {output.Length} bytes (index does not match the blob)");
        }
    }

    /// <summary>The whole layer, fetched and decompressed once to a temporary file (single-frame zstd).</summary>
    FileBlob Spill()
    {
        lock (_spillLock)
        {
            if (_spill != null) return _spill;
            var compressed = Fetch(0);
            var path = Path.Combine(_tempDirectory ?? Path.GetTempPath(), $"zar-lazy-{Guid.NewGuid():N}.tar");
            try
            {
                using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16))
                using (var zstd = new ZstdSharp.DecompressionStream(new MemoryStream(compressed, (int)(_index.Points[0].In - _index.Points[0].Start), compressed.Length), leaveOpen: false))
                    zstd.CopyTo(file);
            }
            catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
            {
                File.Delete(path);
                throw new ZarFormatException($"{Description}: does not decompress ({e.Message})", e);
            }
            _spillPath = path;
            _spill = new FileBlob(path, description: Description);
            if (_spill.Length != Length) throw new ZarFormatException($"{Description}: decompresses to {_spill.Length} bytes, the index says {Length}");
            return _spill;
        }
    }

    public void Dispose()
    {
        lock (_spillLock)
        {
            _spill?.Dispose();
            _spill = null;
            if (_spillPath != null) try { File.Delete(_spillPath); } catch (IOException) { }
        }
        (_compressed as IDisposable)?.Dispose();
    }
}
