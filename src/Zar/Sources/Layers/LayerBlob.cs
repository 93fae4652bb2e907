using Zar.IO;
using Zar.Blobs;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Tar;

namespace Zar.Sources.Layers;

/// <summary>
/// A layer's uncompressed tar as a blob: what the file data of a layer's entries points into.
/// Uncompressed layers whose blob is a local file are read in place (positional, lock-free); other
/// seekable ones through a lock. Compressed layers are either spilled to a temporary uncompressed file
/// during the scan (random access at disk speed) or read through one forward-only decompressor that is
/// reopened when a read goes backwards: cheap in tar order, which is what a sequential pass does
/// (<see cref="OpenSequential"/>).
/// </summary>
public sealed class LayerBlob : ISequentialBlob, IDisposable
{
    readonly ImageLayer _layer;
    readonly object _lock = new();
    IBlob? _random;
    bool _randomChecked;
    Stream? _forward;
    long _forwardPos;
    bool _disposed;

    public LayerCompression Compression { get; }
    /// <summary>The decompressed copy made during the scan, or null.</summary>
    public string? SpillPath { get; }
    public string Description { get; }
    /// <summary>Bytes of uncompressed tar when it can be read at random, else -1 (a forward-only decompressor).</summary>
    public long Length => Random()?.Length ?? -1;

    internal LayerBlob(ImageLayer layer, string what, LayerCompression compression, string? spillPath)
    {
        _layer = layer;
        Description = $"{what}: uncompressed tar";
        Compression = compression;
        SpillPath = spillPath;
    }

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        var random = Random();
        if (random != null) return random.ReadAt(offset, destination);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                if (_forward == null || _forwardPos > offset)
                {
                    _forward?.Dispose();
                    _forward = LayerStream.Open(_layer.OpenLayer(), out _);
                    _forwardPos = 0;
                }
                StreamSkip.Forward(_forward, offset - _forwardPos, Description);
                _forwardPos = offset;
                int n = StreamSkip.ReadFull(_forward, destination);
                _forwardPos += n;
                return n;
            }
            catch (InvalidDataException e) { throw new ZarFormatException($"{Description}: {e.Message}", e); }
        }
    }

    /// <summary>A positional reader when the tar can be read at random: the spill, or an uncompressed seekable blob.</summary>
    IBlob? Random()
    {
        if (Volatile.Read(ref _randomChecked)) return _random;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_randomChecked) return _random;
            if (SpillPath != null) _random = new FileBlob(SpillPath, description: Description);
            else if (Compression == LayerCompression.None)
            {
                if (_layer.Locate() is { } window) _random = window.OpenBlob(Description);
                else
                {
                    var raw = _layer.OpenLayer();
                    if (raw.CanSeek) _random = new StreamBlob(raw, Description);
                    else raw.Dispose();
                }
            }
            Volatile.Write(ref _randomChecked, true);
            return _random;
        }
    }

    /// <summary>A fresh forward-only stream of the uncompressed tar (for one streaming pass).</summary>
    public Stream OpenSequential()
    {
        if (SpillPath != null) return new FileStream(SpillPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return LayerStream.Open(_layer.OpenLayer(), out _);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            (_random as IDisposable)?.Dispose();
            _forward?.Dispose();
            _random = null;
            _forward = null;
        }
        if (SpillPath != null) try { File.Delete(SpillPath); } catch (IOException) { }
    }

    public override string ToString() => Description;
}
