using System.Security.Cryptography;
using Zar.IO;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// Passes a stream through while hashing it. Reading past the expected size throws at once; at the end of the
/// stream the size and then the digest must match, else <see cref="ZarFormatException"/> is thrown from the read
/// that reached the end. Deliberately not seekable, so whoever reads it reads every byte; a reader that stops
/// early has verified nothing (<see cref="Verified"/> stays false) unless it calls <see cref="Finish"/>.
/// A digest whose algorithm cannot be verified is refused when the stream is made (see <see cref="Digest"/>).
/// </summary>
public sealed class DigestVerifyingStream : ReadOnlyStream
{
    readonly Stream _inner;
    readonly IncrementalHash _hash;
    readonly bool _leaveOpen;
    long _read;

    public string ExpectedDigest { get; }
    /// <summary>null when unknown.</summary>
    public long? ExpectedSize { get; }
    public string What { get; }
    public bool Verified { get; private set; }
    public long BytesRead => _read;

    /// <param name="expectedSize">null or negative when unknown.</param>
    public DigestVerifyingStream(Stream inner, string expectedDigest, long? expectedSize, string what, bool leaveOpen = false)
    {
        try { _hash = Digest.CreateHasher(expectedDigest); }
        catch (ZarNotSupportedException e) { throw new ZarNotSupportedException($"{what}: {e.Message}"); }
        _inner = inner;
        ExpectedDigest = expectedDigest;
        ExpectedSize = expectedSize is < 0 ? null : expectedSize;
        What = what;
        _leaveOpen = leaveOpen;
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        int n = _inner.Read(buffer);
        Account(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.IsEmpty) return 0;
        int n = await _inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        Account(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Reads whatever is left (bytes a decompressor did not need still count) and verifies.</summary>
    public void Finish()
    {
        var buf = new byte[81920];
        while (Read(buf) > 0) { }
    }

    void Account(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _read += data.Length;
            if (ExpectedSize is long max && _read > max)
                throw new ZarFormatException($"{What}: longer than the {max} bytes its descriptor says");
            _hash.AppendData(data);
            return;
        }
        if (Verified) return;
        if (ExpectedSize is long want && _read != want)
            throw new ZarFormatException($"{What}: {_read} bytes, expected {want}");
        var got = Digest.Finish(_hash);
        if (!string.Equals(got, ExpectedDigest, StringComparison.Ordinal))
            throw new ZarFormatException($"{What}: digest mismatch: content does not match its digest {ExpectedDigest} (it hashes to {got})");
        Verified = true;
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
