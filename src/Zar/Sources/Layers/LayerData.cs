using Zar.IO;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Tar;

namespace Zar.Sources.Layers;

/// <summary>
/// Reads stored file bytes of one layer by offset in its uncompressed tar.
/// Uncompressed layers whose blob stream can seek are read in place. Compressed layers are either spilled
/// to a temporary uncompressed file during the scan (random access) or read through one forward-only
/// decompressor that is reopened when a read goes backwards — cheap when reads come in tar order, which is
/// what <see cref="LayerTreeFileSystem.CopyTo"/> does.
/// </summary>
sealed class LayerData : IDisposable
{
    readonly ImageLayer _layer;
    readonly string _what;
    readonly object _lock = new();
    Stream? _seekable;
    Stream? _forward;
    long _forwardPos;
    public LayerCompression Compression { get; }
    public string? SpillPath { get; }

    public LayerData(ImageLayer layer, string what, LayerCompression compression, string? spillPath)
    {
        _layer = layer;
        _what = what;
        Compression = compression;
        SpillPath = spillPath;
    }

    public int Read(long tarOffset, Span<byte> destination)
    {
        lock (_lock)
        {
            try
            {
                var s = Seekable();
                if (s != null)
                {
                    s.Position = tarOffset;
                    return ReadFull(s, destination);
                }
                if (_forward == null || _forwardPos > tarOffset)
                {
                    _forward?.Dispose();
                    _forward = LayerStream.Open(_layer.OpenLayer(), out _);
                    _forwardPos = 0;
                }
                Skip(_forward, tarOffset - _forwardPos);
                _forwardPos = tarOffset;
                int n = ReadFull(_forward, destination);
                _forwardPos += n;
                return n;
            }
            catch (InvalidDataException e) { throw new ZarFormatException($"{_what}: {e.Message}", e); }
        }
    }

    Stream? Seekable()
    {
        if (_seekable != null) return _seekable;
        if (SpillPath != null) return _seekable = new FileStream(SpillPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        if (Compression == LayerCompression.None)
        {
            var raw = _layer.OpenLayer();
            if (raw.CanSeek) return _seekable = raw;
            raw.Dispose();
        }
        return null;
    }

    /// <summary>A fresh forward-only stream of the uncompressed tar (for one streaming pass).</summary>
    public Stream OpenSequential()
    {
        if (SpillPath != null) return new FileStream(SpillPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return LayerStream.Open(_layer.OpenLayer(), out _);
    }

    internal static void Skip(Stream s, long count)
    {
        if (count <= 0) return;
        if (s.CanSeek) { s.Position += count; return; }
        var buf = new byte[(int)Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n = s.Read(buf, 0, (int)Math.Min(buf.Length, count));
            if (n <= 0) throw new ZarFormatException("layer tar ends before the data of an entry");
            count -= n;
        }
    }

    static int ReadFull(Stream s, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = s.Read(destination[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _seekable?.Dispose();
            _forward?.Dispose();
            _seekable = _forward = null;
        }
        if (SpillPath != null) try { File.Delete(SpillPath); } catch (IOException) { }
    }
}

/// <summary>Copies what is read into a second stream (used to spill a decompressed layer while scanning it).</summary>
sealed class TeeStream(Stream inner, Stream copy) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        if (n > 0) copy.Write(buffer[..n]);
        return n;
    }
}
