using Zar.IO;
using System.Security.Cryptography;
using Zar.Model;

namespace Zar.Sources.Images;

/// <summary>Content digests ("sha256:hex"): hashing for verification of blobs and layer tars.</summary>
static class BlobDigest
{
    /// <summary>A hasher for the digest's algorithm, or null when we cannot verify it (e.g. blake3).</summary>
    public static IncrementalHash? CreateHasher(string digest)
    {
        int colon = digest.IndexOf(':');
        var alg = colon < 0 ? "" : digest[..colon];
        return alg switch
        {
            "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            "sha512" => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
            _ => null,
        };
    }

    public static string Algorithm(string digest) { int c = digest.IndexOf(':'); return c < 0 ? "" : digest[..c]; }
    public static string Encoded(string digest) { int c = digest.IndexOf(':'); return c < 0 ? digest : digest[(c + 1)..]; }

    /// <summary>Digest grammar of the OCI spec (descriptor.md); sha256/sha512 also need the exact hex length.</summary>
    public static bool IsValid(string? digest)
    {
        if (string.IsNullOrEmpty(digest)) return false;
        int colon = digest.IndexOf(':');
        if (colon <= 0 || colon == digest.Length - 1) return false;
        var alg = digest[..colon];
        var enc = digest[(colon + 1)..];
        foreach (var ch in alg) if (!(ch is >= 'a' and <= 'z' or >= '0' and <= '9' or '+' or '.' or '_' or '-')) return false;
        foreach (var ch in enc) if (!(char.IsAsciiLetterOrDigit(ch) || ch is '=' or '_' or '-')) return false;
        bool hex = enc.All(ch => ch is >= '0' and <= '9' or >= 'a' and <= 'f');
        return alg switch { "sha256" => enc.Length == 64 && hex, "sha512" => enc.Length == 128 && hex, _ => true };
    }

    public static string Compute(string likeDigest, ReadOnlySpan<byte> data)
    {
        using var h = CreateHasher(likeDigest) ?? throw new ZarNotSupportedException($"digest {likeDigest}: algorithm not supported");
        h.AppendData(data);
        return Algorithm(likeDigest) + ":" + Convert.ToHexStringLower(h.GetHashAndReset());
    }
}

/// <summary>
/// Passes a stream through while hashing it; at its end, checks size and digest and throws a one-line
/// ZarFormatException on mismatch. Deliberately not seekable, so whoever reads it reads every byte.
/// </summary>
sealed class DigestingStream : ReadOnlyStream
{
    readonly Stream _inner;
    readonly bool _leaveOpen;
    readonly IncrementalHash? _hash;
    readonly string _expected;
    readonly long _expectedSize;
    readonly string _what;
    long _count;
    bool _checked;

    /// <param name="expectedSize">-1 when unknown.</param>
    public DigestingStream(Stream inner, string expectedDigest, long expectedSize, string what, bool leaveOpen = false)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _expected = expectedDigest;
        _expectedSize = expectedSize;
        _what = what;
        _hash = BlobDigest.CreateHasher(expectedDigest);
    }

    public long BytesRead => _count;
    public override long Position { get => _count; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        int n = _inner.Read(buffer);
        if (n > 0)
        {
            _hash?.AppendData(buffer[..n]);
            _count += n;
            if (_expectedSize >= 0 && _count > _expectedSize)
                throw new ZarFormatException($"{_what}: larger than the {_expectedSize} bytes its descriptor says");
        }
        else Check();
        return n;
    }

    /// <summary>Reads whatever is left (bytes a decompressor did not need still count) and verifies.</summary>
    public void Finish()
    {
        var buf = new byte[81920];
        while (Read(buf) > 0) { }
        Check();
    }

    void Check()
    {
        if (_checked) return;
        _checked = true;
        if (_expectedSize >= 0 && _count != _expectedSize)
            throw new ZarFormatException($"{_what}: {_count} bytes, but its descriptor says {_expectedSize}");
        if (_hash == null) return;
        var got = BlobDigest.Algorithm(_expected) + ":" + Convert.ToHexStringLower(_hash.GetHashAndReset());
        if (!string.Equals(got, _expected, StringComparison.Ordinal))
            throw new ZarFormatException($"{_what}: digest mismatch: expected {_expected}, content hashes to {got}");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash?.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A read-only window [offset, offset+length) of a seekable stream; positions are relative to the window.</summary>
sealed class SubStream(Stream inner, long offset, long length, bool leaveOpen = false) : ReadOnlyStream
{
    long _pos;
    public override bool CanSeek => true;
    public override long Length => length;
    public override long Position { get => _pos; set => _pos = value; }

    public override int Read(byte[] buffer, int offset1, int count) => Read(buffer.AsSpan(offset1, count));

    public override int Read(Span<byte> buffer)
    {
        if (_pos >= length || buffer.IsEmpty) return 0;
        int want = (int)Math.Min(buffer.Length, length - _pos);
        inner.Position = offset + _pos;
        int n = inner.Read(buffer[..want]);
        _pos += n;
        return n;
    }

    public override long Seek(long off, SeekOrigin origin) => _pos = origin switch
    {
        SeekOrigin.Begin => off, SeekOrigin.Current => _pos + off, _ => length + off,
    };

    public override void Write(byte[] buffer, int offset1, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen) inner.Dispose();
        base.Dispose(disposing);
    }
}
