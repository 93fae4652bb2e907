using System.IO.Compression;
using System.Security.Cryptography;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// Collects access points while a blob streams through once: the compressed bytes each inflate call consumes are
/// hashed into the current span's digest, and each point's window is deflated into the window area.
/// </summary>
internal sealed class IndexRecorder
{
    readonly List<AccessPoint> _points = [];
    readonly MemoryStream _windows = new();
    IncrementalHash? _span;

    public IReadOnlyList<AccessPoint> Points => _points;
    public long LastOut => _points.Count == 0 ? -1 : _points[^1].Out;
    public int Count => _points.Count;

    /// <summary>Compressed bytes consumed since the last call, in blob order.</summary>
    public void Consumed(ReadOnlySpan<byte> bytes) => _span?.AppendData(bytes);

    /// <summary>Adds a point at (<paramref name="out"/>, <paramref name="in"/>, <paramref name="bits"/>); with bits != 0,
    /// <paramref name="sharedByte"/> is the byte at in-1, which ends the previous span and starts this one.</summary>
    public void Add(long @out, long @in, int bits, AccessPointKind kind, ReadOnlySpan<byte> window, byte sharedByte = 0)
    {
        CloseSpan();
        long windowOffset = _windows.Length;
        if (!window.IsEmpty)
        {
            using var deflate = new DeflateStream(_windows, CompressionLevel.Fastest, leaveOpen: true);
            deflate.Write(window);
        }
        _points.Add(new AccessPoint(@out, @in, (byte)bits, kind, window.Length, windowOffset, (int)(_windows.Length - windowOffset), []));
        _span = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (bits != 0) _span.AppendData([sharedByte]);
    }

    void CloseSpan()
    {
        if (_span == null) return;
        _points[^1] = _points[^1] with { SpanDigest = _span.GetHashAndReset() };
        _span.Dispose();
        _span = null;
    }

    /// <summary>Ends the last span at the blob's end.</summary>
    public (AccessPoint[] Points, byte[] Windows) Finish()
    {
        CloseSpan();
        return (_points.ToArray(), _windows.ToArray());
    }
}
