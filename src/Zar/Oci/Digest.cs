using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// Content digests <c>algorithm:encoded</c> (image-spec descriptor.md), kept as strings everywhere.
/// Two rules, deliberately different:
/// <list type="bullet">
/// <item>Validation: any digest that follows the grammar is valid, a registered algorithm also needs its exact
/// encoding (sha256: 64 lowercase hex, sha512: 128). "Implementations SHOULD allow digests that are unsupported
/// to pass validation", so a descriptor with e.g. a blake3 digest parses and can be skipped or listed.</item>
/// <item>Verification: content is consumed only after it hashed to its digest ("the byte content SHOULD be
/// verified"). We can hash sha256 and sha512; content under any other algorithm cannot be verified and is
/// refused (<see cref="ZarNotSupportedException"/>) rather than trusted unchecked. Callers that were told not
/// to verify (<c>--no-verify</c>) do not ask.</item>
/// </list>
/// </summary>
public static partial class Digest
{
    [GeneratedRegex("^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")]
    private static partial Regex Grammar();

    /// <summary>Algorithms whose content we can verify.</summary>
    public static readonly IReadOnlyList<string> VerifiableAlgorithms = ["sha256", "sha512"];

    public static bool IsValid(string? digest)
    {
        if (digest is null || !Grammar().IsMatch(digest)) return false;
        var (algorithm, encoded) = Split(digest);
        return algorithm switch
        {
            "sha256" => encoded.Length == 64 && IsLowerHex(encoded),
            "sha512" => encoded.Length == 128 && IsLowerHex(encoded),
            _ => true,
        };
    }

    /// <summary>Returns <paramref name="digest"/> when valid, else throws a <see cref="ZarFormatException"/> naming <paramref name="what"/>.</summary>
    public static string Validate(string? digest, string what) =>
        IsValid(digest) ? digest! : throw new ZarFormatException($"{what}: invalid digest '{digest}'");

    public static (string Algorithm, string Encoded) Split(string digest)
    {
        int colon = digest.IndexOf(':');
        return colon < 0 ? ("", digest) : (digest[..colon], digest[(colon + 1)..]);
    }

    public static string Algorithm(string digest) => Split(digest).Algorithm;

    public static string Encoded(string digest) => Split(digest).Encoded;

    public static bool CanVerify(string digest) => VerifiableAlgorithms.Contains(Algorithm(digest));

    /// <summary>A running hash for the digest's algorithm; throws <see cref="ZarNotSupportedException"/> for one we cannot verify.</summary>
    public static IncrementalHash CreateHasher(string digest) => Algorithm(digest) switch
    {
        "sha256" => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
        "sha512" => IncrementalHash.CreateHash(HashAlgorithmName.SHA512),
        var a => throw new ZarNotSupportedException(
            $"digest {digest}: algorithm '{a}' cannot be verified (supported: {string.Join(", ", VerifiableAlgorithms)})"),
    };

    /// <summary>A running sha256 (the algorithm digests we make use).</summary>
    public static IncrementalHash CreateSha256Hasher() => IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>The digest of what <paramref name="hasher"/> (made here) has seen; the hasher is reset.</summary>
    public static string Finish(IncrementalHash hasher)
    {
        var algorithm = hasher.AlgorithmName == HashAlgorithmName.SHA512 ? "sha512"
            : hasher.AlgorithmName == HashAlgorithmName.SHA256 ? "sha256"
            : throw new ArgumentException($"not a digest algorithm: {hasher.AlgorithmName}", nameof(hasher));
        return algorithm + ":" + Convert.ToHexStringLower(hasher.GetHashAndReset());
    }

    public static string Sha256(ReadOnlySpan<byte> data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Digest of <paramref name="data"/> with the algorithm of <paramref name="likeDigest"/>.</summary>
    public static string ComputeLike(string likeDigest, ReadOnlySpan<byte> data)
    {
        using var h = CreateHasher(likeDigest);
        h.AppendData(data);
        return Finish(h);
    }

    public static bool Matches(string digest, ReadOnlySpan<byte> data) =>
        string.Equals(ComputeLike(digest, data), digest, StringComparison.Ordinal);

    /// <summary>
    /// Checks small content (a manifest, index or config) against its descriptor's size and digest, in the
    /// spec's order: a wrong size means the content is not trusted, before any hashing.
    /// </summary>
    public static void Verify(ReadOnlySpan<byte> data, string digest, long size, string what)
    {
        if (data.Length != size)
            throw new ZarFormatException($"{what}: {data.Length} bytes, its descriptor says {size}");
        var got = ComputeLike(digest, data);
        if (!string.Equals(got, digest, StringComparison.Ordinal))
            throw new ZarFormatException($"{what}: digest mismatch: content does not match its digest {digest} (it hashes to {got})");
    }

    /// <summary>Hashes a file with the algorithm of <paramref name="likeDigest"/>.</summary>
    public static string ComputeLike(string likeDigest, Stream stream)
    {
        using var h = CreateHasher(likeDigest);
        var buf = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buf)) > 0) h.AppendData(buf, 0, n);
        return Finish(h);
    }

    static bool IsLowerHex(string s)
    {
        foreach (var c in s) if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }
}
