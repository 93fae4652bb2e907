using System.Security.Cryptography;
using Zar.Model;

namespace Zar.Stores;

/// <summary>
/// One chunk as a content store holds it (flist spec §3): key = BLAKE2b-256(plaintext),
/// blob = AES-256-GCM(key, nonce key[0..12], snappy-raw(plaintext)) ‖ 16-byte tag, id = BLAKE2b-256(blob).
/// Convergent encryption: the same plaintext always gives the same key, blob and id, so stores dedup.
/// </summary>
public readonly record struct EncodedChunk(byte[] Id, byte[] Key, byte[] Blob);

/// <summary>The rfs chunk encoding, both ways.</summary>
public static class ChunkCodec
{
    /// <summary>Files are cut into chunks of this many bytes (512 KiB); only a file's last chunk is shorter.</summary>
    public const int ChunkSize = 524288;
    public const int HashSize = 32;
    const int NonceSize = 12, TagSize = 16;

    /// <summary>BLAKE2b with a 32-byte digest (RFC 7693 outlen 32, which is not BLAKE2b-512 truncated).</summary>
    public static byte[] Hash(ReadOnlySpan<byte> data)
        => Blake2b.Hash(data, HashSize);

    public static EncodedChunk Encode(ReadOnlySpan<byte> plain)
    {
        var key = Hash(plain);
        return Encode(plain, key);
    }

    /// <summary>Encodes with a key already computed (the writer hashes first to skip chunks it has seen).</summary>
    public static EncodedChunk Encode(ReadOnlySpan<byte> plain, byte[] key)
    {
        // IronSnappy's encoder is the golang/snappy block encoder, as Rust snap's is: the same
        // compressed bytes, hence the same ids as rfs for the same plaintext (spec §3.3).
        var compressed = IronSnappy.Snappy.Encode(plain);
        var blob = new byte[compressed.Length + TagSize];
        using (var aes = new AesGcm(key, TagSize))
            aes.Encrypt(key.AsSpan(0, NonceSize), compressed, blob.AsSpan(0, compressed.Length), blob.AsSpan(compressed.Length));
        return new EncodedChunk(Hash(blob), key, blob);
    }

    /// <summary>True when <paramref name="blob"/> hashes to <paramref name="id"/>: the store returned what was asked for.</summary>
    public static bool MatchesId(ReadOnlySpan<byte> blob, ReadOnlySpan<byte> id) => Hash(blob).AsSpan().SequenceEqual(id);

    /// <summary>
    /// The plaintext of a blob. <paramref name="what"/> names it in errors. A wrong key or a damaged blob fails
    /// GCM authentication; <paramref name="verifyKey"/> also checks BLAKE2b(plaintext) = key (rfs checks neither).
    /// </summary>
    public static byte[] Decode(ReadOnlySpan<byte> blob, ReadOnlySpan<byte> key, string what, bool verifyKey = true)
    {
        if (key.Length != HashSize) throw new ZarFormatException($"{what}: key is {key.Length} bytes, not {HashSize}");
        if (blob.Length < TagSize) throw new ZarFormatException($"{what}: blob is {blob.Length} bytes, shorter than its GCM tag");
        var compressed = new byte[blob.Length - TagSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(key[..NonceSize], blob[..^TagSize], blob[^TagSize..], compressed);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new ZarFormatException($"{what}: cannot decrypt: the key in the fl does not open this blob (wrong key or damaged blob)");
        }
        byte[] plain;
        try { plain = IronSnappy.Snappy.Decode(compressed); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ZarFormatException($"{what}: decrypted blob is not valid snappy data ({e.Message})");
        }
        if (verifyKey && !Hash(plain).AsSpan().SequenceEqual(key))
            throw new ZarFormatException($"{what}: the plaintext's BLAKE2b is not the key recorded in the fl");
        return plain;
    }

    public static string Hex(ReadOnlySpan<byte> id) => Convert.ToHexStringLower(id);
}
