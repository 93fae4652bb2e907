using Zar.IO;
using System.Security.Cryptography;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// Passes bytes through while hashing them; at the end of the stream the size and digest must match, else
/// <see cref="ZarFormatException"/> is thrown from the read that reached the end. A reader that stops early
/// has not verified anything (<see cref="Verified"/> stays false).
/// </summary>
public sealed class DigestVerifyingStream : ReadOnlyStream
{
    readonly Stream _inner;
    readonly IncrementalHash _hash;
    readonly bool _leaveOpen;
    long _read;

    public string ExpectedDigest { get; }
    public long? ExpectedSize { get; }
    public string What { get; }
    public bool Verified { get; private set; }
    public long BytesRead => _read;

    public DigestVerifyingStream(Stream inner, string expectedDigest, long? expectedSize, string what, bool leaveOpen = false)
    {
        _inner = inner;
        ExpectedDigest = expectedDigest;
        ExpectedSize = expectedSize is < 0 ? null : expectedSize;
        What = what;
        _leaveOpen = leaveOpen;
        _hash = Digest.CreateHasher(expectedDigest);
    }

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        Account(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await _inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        Account(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    void Account(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            if (Verified) return;
            if (ExpectedSize is long want && _read != want)
                throw new ZarFormatException($"{What}: blob is {_read} bytes, expected {want}");
            string got = Digest.Algorithm(ExpectedDigest) + ":" + Convert.ToHexStringLower(_hash.GetHashAndReset());
            if (got != ExpectedDigest)
                throw new ZarFormatException($"{What}: content does not match its digest (expected {ExpectedDigest}, got {got})");
            Verified = true;
            return;
        }
        _read += data.Length;
        if (ExpectedSize is long max && _read > max)
            throw new ZarFormatException($"{What}: blob is longer than its declared {max} bytes");
        _hash.AppendData(data);
    }

    public override long Length => ExpectedSize ?? throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
