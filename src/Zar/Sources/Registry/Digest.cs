using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// Content digests `alg:encoded`. Verification supports sha256 and sha512; other grammatical
/// algorithms parse but cannot be verified, so they are refused where bytes must be trusted.
/// </summary>
public static partial class Digest
{
    [GeneratedRegex("^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")]
    private static partial Regex Grammar();

    public static bool IsValid(string? digest)
    {
        if (digest is null || !Grammar().IsMatch(digest)) return false;
        var (alg, hex) = Split(digest);
        return alg switch
        {
            "sha256" => hex.Length == 64 && IsLowerHex(hex),
            "sha512" => hex.Length == 128 && IsLowerHex(hex),
            _ => true,
        };
    }

    public static string Validate(string digest, string what)
    {
        if (!IsValid(digest)) throw new ZarFormatException($"{what}: invalid digest '{digest}'");
        return digest;
    }

    public static (string Algorithm, string Encoded) Split(string digest)
    {
        int colon = digest.IndexOf(':');
        return colon < 0 ? ("", digest) : (digest[..colon], digest[(colon + 1)..]);
    }

    public static string Encoded(string digest) => Split(digest).Encoded;

    public static string Algorithm(string digest) => Split(digest).Algorithm;

    /// <summary>A running hash matching the digest's algorithm; unknown algorithms cannot be verified.</summary>
    public static IncrementalHash CreateHasher(string digest)
    {
        return Algorithm(digest) switch
        {
            "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            "sha512" => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
            var a => throw new ZarNotSupportedException($"digest {digest}: algorithm '{a}' is not supported (sha256, sha512)"),
        };
    }

    public static string Sha256(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Digest of <paramref name="data"/> with the same algorithm as <paramref name="likeDigest"/>.</summary>
    public static string ComputeLike(string likeDigest, ReadOnlySpan<byte> data)
    {
        using var h = CreateHasher(likeDigest);
        h.AppendData(data);
        return Algorithm(likeDigest) + ":" + Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public static bool Matches(string digest, ReadOnlySpan<byte> data) =>
        string.Equals(ComputeLike(digest, data), digest, StringComparison.Ordinal);

    public static async Task<string> ComputeAsync(string algorithm, Stream stream, CancellationToken ct = default)
    {
        using var h = CreateHasher(algorithm + ":");
        var buf = new byte[1 << 16];
        int n;
        while ((n = await stream.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) h.AppendData(buf, 0, n);
        return algorithm + ":" + Convert.ToHexStringLower(h.GetHashAndReset());
    }

    static bool IsLowerHex(string s)
    {
        foreach (var c in s) if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }
}
