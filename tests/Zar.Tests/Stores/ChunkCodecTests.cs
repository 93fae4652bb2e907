using System.Security.Cryptography;
using System.Text;
using Konscious.Security.Cryptography;
using Zar.Model;
using Zar.Stores;

namespace Zar.Tests.Stores;

/// <summary>The rfs chunk encoding against the flist spec's test vectors (§3.5) and the NuGet BLAKE2b.</summary>
public sealed class ChunkCodecTests
{
    static string Hex(byte[] b) => Convert.ToHexStringLower(b);

    [Fact]
    public void HelloWorldVector()
    {
        var c = ChunkCodec.Encode("hello world\n"u8);
        Assert.Equal("c71b05fd1d1c7bf7e928ff18e58db5193e9316416cc26ba9cc9094da80d7011e", Hex(c.Key));
        Assert.Equal("0c2c68656c6c6f20776f726c640a", Hex(IronSnappy.Snappy.Encode("hello world\n"u8)));
        Assert.Equal("e565e4a3ac6198a15bf18a61f66ca364542240205ab53f72e221a7bc1837", Hex(c.Blob));
        Assert.Equal("d139c46e6cc65acfa2eef1d0cd7abf014667fdc9a5ca75d9184671f97301a0db", Hex(c.Id));
        Assert.Equal("hello world\n"u8.ToArray(), ChunkCodec.Decode(c.Blob, c.Key, "vector 1"));
    }

    [Fact]
    public void ZeroChunkVector()
    {
        var c = ChunkCodec.Encode(new byte[ChunkCodec.ChunkSize]);
        Assert.Equal("0a93174557b2e0668f2531531415142280358ee32605d059dab1ce8ebbb1cc01", Hex(c.Key));
        var snappy = IronSnappy.Snappy.Encode(new byte[ChunkCodec.ChunkSize]);
        Assert.Equal(24595, snappy.Length);
        Assert.Equal("3bc27062ed49c42a22ee9bdb09b64d0f80a90f269e53820429c875e848f71938", Hex(SHA256.HashData(snappy)));
        Assert.Equal(24611, c.Blob.Length);
        Assert.Equal("e8fd6b2d9a2e8851d12163c43f3024c31fcac6b486bceacf042d323f8e6f6640", Hex(c.Id));
    }

    [Fact]
    public void QuickBrownFoxVector()
    {
        var text = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 524288 / 45 + 1)))[..524288];
        var c = ChunkCodec.Encode(text);
        Assert.Equal("40e5756f72ac18028e13e2a5f391413d7ca5ebdad17e417def1321ff2cfeb06a", Hex(c.Key));
        var snappy = IronSnappy.Snappy.Encode(text);
        Assert.Equal(24947, snappy.Length);
        Assert.Equal("03d287c4a596f2b13e96f043384bf7c8887aa129c5c16bc9108c5c5ae7f387a5", Hex(SHA256.HashData(snappy)));
        Assert.Equal("ced74851a29809670bde27d684b26008c5d9dbc1a76e5867497f85e0ccc82670", Hex(c.Id));
    }

    [Fact]
    public void ThreeChunkFileVector()
    {
        var file = new byte[1_200_000];
        for (int i = 0; i < file.Length; i++) file[i] = (byte)(i % 251);
        var expected = new[]
        {
            ("027261138272f669975c00d5382550ca78d38de640eb9f73421656bdf09ba757", 26547, "c8caf12f5b4e016d33f5430e46ade07850f41f96a729f842fcf7c071b599e7c7"),
            ("9bfb4bb6446277b48887a032735c22d233317a158f70c325a1759ebef60e8a66", 26547, "2b63edc235c3d2b1057ccedd32634c38fcec0e2451a5c68238dd8974725a3b4b"),
            ("8f6596053a01ccf10948e7dfc2bf51a72c5da6f67cd4908bea9673e3179415e6", 7839, "49e8ef15e8f08a0fd853c478efc3d8b93a18c12f9430b7ae8f41353cfd3f9955"),
        };
        for (int i = 0; i < 3; i++)
        {
            var chunk = file.AsSpan(i * ChunkCodec.ChunkSize, Math.Min(ChunkCodec.ChunkSize, file.Length - i * ChunkCodec.ChunkSize));
            var c = ChunkCodec.Encode(chunk);
            Assert.Equal(expected[i].Item1, Hex(c.Key));
            Assert.Equal(expected[i].Item2, IronSnappy.Snappy.Encode(chunk).Length);
            Assert.Equal(expected[i].Item3, Hex(c.Id));
        }
        Assert.Equal(151424, file.Length - 2 * ChunkCodec.ChunkSize);
    }

    [Fact]
    public void Blake2bIsNotTruncatedBlake2b512()
    {
        var h512 = Blake2b.Hash("hello world\n"u8, 64);
        Assert.StartsWith("fec91c70284c72d0", Hex(h512));
        Assert.NotEqual(Hex(h512[..32]), Hex(Blake2b.Hash("hello world\n"u8)));
        // RFC 7693 appendix A: BLAKE2b-512("abc").
        Assert.Equal("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
            Hex(Blake2b.Hash("abc"u8, 64)));
    }

    [Fact]
    public void Blake2bMatchesTheNuGetImplementation()
    {
        var rng = new Random(7);
        foreach (int len in new[] { 0, 1, 63, 127, 128, 129, 255, 256, 257, 1000, 4096, 65536 + 3, ChunkCodec.ChunkSize })
        {
            var data = new byte[len];
            rng.NextBytes(data);
            using var reference = new HMACBlake2B(256);
            Assert.Equal(Hex(reference.ComputeHash(data)), Hex(Blake2b.Hash(data)));
        }
    }

    [Fact]
    public void WrongKeyAndDamagedBlobAreFormatErrors()
    {
        var c = ChunkCodec.Encode("some plaintext that is long enough to compress a bit: aaaaaaaaaaaaaaaaaaaaaaaaaaaa"u8);
        var wrong = (byte[])c.Key.Clone();
        wrong[5] ^= 1;
        var e = Assert.Throws<ZarFormatException>(() => ChunkCodec.Decode(c.Blob, wrong, "chunk"));
        Assert.Contains("cannot decrypt", e.Message);
        var damaged = (byte[])c.Blob.Clone();
        damaged[3] ^= 0x80;
        Assert.Throws<ZarFormatException>(() => ChunkCodec.Decode(damaged, c.Key, "chunk"));
        Assert.False(ChunkCodec.MatchesId(damaged, c.Id));
        Assert.True(ChunkCodec.MatchesId(c.Blob, c.Id));
    }
}
