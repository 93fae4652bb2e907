using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Zar.Stores;

/// <summary>
/// BLAKE2b (RFC 7693), unkeyed, with a chosen digest length; flists use 32 bytes. Our own because the
/// NuGet implementation (Konscious.Security.Cryptography.Blake2 1.1.1) runs at ~140 MB/s here, and its
/// span overloads throw on .NET 10 (they reach HMAC's base implementation): hashing is done twice per
/// 512 KiB chunk, so its speed is the writer's and the reader's. The tests check this one against it.
/// </summary>
public static class Blake2b
{
    static readonly ulong[] IV =
    [
        0x6a09e667f3bcc908UL, 0xbb67ae8584caa73bUL, 0x3c6ef372fe94f82bUL, 0xa54ff53a5f1d36f1UL,
        0x510e527fade682d1UL, 0x9b05688c2b3e6c1fUL, 0x1f83d9abfb41bd6bUL, 0x5be0cd19137e2179UL,
    ];

    public static byte[] Hash(ReadOnlySpan<byte> data, int digestLength = 32)
    {
        var digest = new byte[digestLength];
        Hash(data, digest);
        return digest;
    }

    /// <summary>Hashes <paramref name="data"/> into <paramref name="digest"/> (1..64 bytes; its length is the digest length).</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        if (digest.Length is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(digest), "BLAKE2b digests are 1 to 64 bytes");
        Span<ulong> h = stackalloc ulong[8];
        IV.CopyTo(h);
        h[0] ^= 0x01010000UL ^ (ulong)digest.Length; // parameter block: fanout 1, depth 1, no key
        Span<ulong> m = stackalloc ulong[16];
        ulong counter = 0;
        int offset = 0;
        // Every block but the last is compressed as a full block; the last (possibly empty) one is final.
        while (data.Length - offset > 128)
        {
            counter += 128;
            Load(data.Slice(offset, 128), m);
            Compress(h, m, counter, false);
            offset += 128;
        }
        Span<byte> last = stackalloc byte[128];
        last.Clear();
        data[offset..].CopyTo(last);
        counter += (ulong)(data.Length - offset);
        Load(last, m);
        Compress(h, m, counter, true);
        Span<byte> output = stackalloc byte[64];
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteUInt64LittleEndian(output[(i * 8)..], h[i]);
        output[..digest.Length].CopyTo(digest);
    }

    static void Load(ReadOnlySpan<byte> block, Span<ulong> m)
    {
        for (int i = 0; i < 16; i++) m[i] = BinaryPrimitives.ReadUInt64LittleEndian(block[(i * 8)..]);
    }

    static void Compress(Span<ulong> h, ReadOnlySpan<ulong> m, ulong counter, bool final)
    {
        ulong v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
        ulong v8 = IV[0], v9 = IV[1], v10 = IV[2], v11 = IV[3];
        ulong v12 = IV[4] ^ counter, v13 = IV[5], v14 = final ? ~IV[6] : IV[6], v15 = IV[7];
        ulong m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3], m4 = m[4], m5 = m[5], m6 = m[6], m7 = m[7];
        ulong m8 = m[8], m9 = m[9], m10 = m[10], m11 = m[11], m12 = m[12], m13 = m[13], m14 = m[14], m15 = m[15];
        // The 12 rounds with the message schedule (sigma) written out, rounds 10 and 11 repeating 0 and 1.
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m11, m8, m12, m0, m5, m2, m15, m13, m10, m14, m3, m6, m7, m1, m9, m4);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m7, m9, m3, m1, m13, m12, m11, m14, m2, m6, m5, m10, m4, m0, m15, m8);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m9, m0, m5, m7, m2, m4, m10, m15, m14, m1, m11, m12, m6, m8, m3, m13);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m2, m12, m6, m10, m0, m11, m8, m3, m4, m13, m7, m5, m15, m14, m1, m9);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m12, m5, m1, m15, m14, m13, m4, m10, m0, m7, m6, m3, m9, m2, m8, m11);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m13, m11, m7, m14, m12, m1, m3, m9, m5, m0, m15, m4, m8, m6, m2, m10);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m6, m15, m14, m9, m11, m3, m0, m8, m12, m2, m13, m7, m1, m4, m10, m5);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m10, m2, m8, m4, m7, m6, m1, m5, m15, m11, m9, m14, m3, m12, m13, m0);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15);
        Round(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref v10, ref v11, ref v12, ref v13, ref v14, ref v15, m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3);
        h[0] ^= v0 ^ v8; h[1] ^= v1 ^ v9; h[2] ^= v2 ^ v10; h[3] ^= v3 ^ v11;
        h[4] ^= v4 ^ v12; h[5] ^= v5 ^ v13; h[6] ^= v6 ^ v14; h[7] ^= v7 ^ v15;
    }

    /// <summary>One round; the message words come already permuted by that round's sigma row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3, ref ulong v4, ref ulong v5, ref ulong v6, ref ulong v7,
        ref ulong v8, ref ulong v9, ref ulong v10, ref ulong v11, ref ulong v12, ref ulong v13, ref ulong v14, ref ulong v15,
        ulong s0, ulong s1, ulong s2, ulong s3, ulong s4, ulong s5, ulong s6, ulong s7,
        ulong s8, ulong s9, ulong s10, ulong s11, ulong s12, ulong s13, ulong s14, ulong s15)
    {
        G(ref v0, ref v4, ref v8, ref v12, s0, s1);
        G(ref v1, ref v5, ref v9, ref v13, s2, s3);
        G(ref v2, ref v6, ref v10, ref v14, s4, s5);
        G(ref v3, ref v7, ref v11, ref v15, s6, s7);
        G(ref v0, ref v5, ref v10, ref v15, s8, s9);
        G(ref v1, ref v6, ref v11, ref v12, s10, s11);
        G(ref v2, ref v7, ref v8, ref v13, s12, s13);
        G(ref v3, ref v4, ref v9, ref v14, s14, s15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void G(ref ulong a, ref ulong b, ref ulong c, ref ulong d, ulong x, ulong y)
    {
        a += b + x; d = ulong.RotateRight(d ^ a, 32);
        c += d; b = ulong.RotateRight(b ^ c, 24);
        a += b + y; d = ulong.RotateRight(d ^ a, 16);
        c += d; b = ulong.RotateRight(b ^ c, 63);
    }
}
