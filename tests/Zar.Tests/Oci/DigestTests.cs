using System.Text;
using Zar.Model;
using Zar.Oci;
using Zar.Sources;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using static Zar.Tests.Sources.Images.ImageFixtures;

namespace Zar.Tests.Oci;

public class DigestTests
{
    static readonly byte[] Hello = Encoding.UTF8.GetBytes("hello world");
    const string HelloSha256 = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    [Theory]
    [InlineData(HelloSha256, true)]
    [InlineData("sha512:" + "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f", true)]
    [InlineData("blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262", true)] // registered in the layout spec, not verifiable here
    [InlineData("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", true)] // the spec's own "valid but unsupported" example
    [InlineData("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", true)]
    [InlineData("sha256:B94D27B9934D3E08A52E52D7DA7DABFAC484EFE37A5380EE9088F7ACE2EFCDE9", false)] // sha256 is lowercase hex
    [InlineData("sha256:b94d27", false)] // wrong length for a registered algorithm
    [InlineData("sha512:" + "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", false)]
    [InlineData("SHA256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", false)] // algorithm is lowercase
    [InlineData("sha256", false)]
    [InlineData(":abc", false)]
    [InlineData("sha256:", false)]
    [InlineData("sha256:../../etc/passwd", false)]
    [InlineData("a..b:abc", false)] // separators join components, never stand twice
    [InlineData(null, false)]
    public void ValidationFollowsTheGrammarAndRegisteredLengths(string? digest, bool valid)
    {
        Assert.Equal(valid, Digest.IsValid(digest));
        if (valid) Assert.Equal(digest, Digest.Validate(digest, "x"));
        else Assert.Contains("invalid digest", Assert.Throws<ZarFormatException>(() => Digest.Validate(digest, "x")).Message);
    }

    [Fact]
    public void ContentIsVerifiedOnlyUnderAlgorithmsWeCanHash()
    {
        Assert.Equal(HelloSha256, Digest.Sha256(Hello));
        Assert.True(Digest.Matches(HelloSha256, Hello));
        var sha512 = Digest.ComputeLike("sha512:x", Hello);
        Assert.StartsWith("sha512:309ecc48", sha512);
        Assert.True(Digest.CanVerify(sha512));

        const string blake3 = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
        Assert.False(Digest.CanVerify(blake3));
        var e = Assert.Throws<ZarNotSupportedException>(() => Digest.Matches(blake3, Hello));
        Assert.Contains("'blake3' cannot be verified", e.Message);
        var s = Assert.Throws<ZarNotSupportedException>(() => new DigestVerifyingStream(new MemoryStream(Hello), blake3, Hello.Length, "layer 1"));
        Assert.StartsWith("layer 1: ", s.Message);
    }

    [Fact]
    public void SizeIsCheckedBeforeTheDigest()
    {
        Digest.Verify(Hello, HelloSha256, Hello.Length, "blob");
        // A wrong size is reported as such, even though the digest would also fail.
        Assert.Contains("its descriptor says 5", Assert.Throws<ZarFormatException>(() => Digest.Verify(Hello, HelloSha256, 5, "blob")).Message);
        var other = Digest.Sha256(Encoding.UTF8.GetBytes("hello worle"));
        var mismatch = Assert.Throws<ZarFormatException>(() => Digest.Verify(Hello, other, Hello.Length, "blob"));
        Assert.Contains("digest mismatch", mismatch.Message);
        Assert.Contains(HelloSha256, mismatch.Message);
    }

    [Fact]
    public void VerifyingStreamFinishesAndReportsOneLine()
    {
        using (var s = new DigestVerifyingStream(new MemoryStream(Hello), HelloSha256, null, "t"))
        {
            var first = new byte[3];
            s.ReadExactly(first);
            Assert.False(s.Verified);
            s.Finish();
            Assert.True(s.Verified);
            Assert.Equal(Hello.Length, s.BytesRead);
        }
        using var bad = new DigestVerifyingStream(new MemoryStream(Hello), Digest.Sha256([1]), -1, "layer 2/3: blob");
        var e = Assert.Throws<ZarFormatException>(bad.Finish);
        Assert.StartsWith("layer 2/3: blob: digest mismatch", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>
    /// A layout whose layer is named by a grammatical digest of an algorithm we cannot hash: the manifest parses
    /// (validation passes), reading the layer is refused while verifying, and read with verification off.
    /// </summary>
    [Fact]
    public void LayoutWithAnUnverifiableLayerDigestOpensOnlyWithoutVerification()
    {
        using var t = new TempDir();
        var layout = t["layout"];
        var tar = new LayerTarBuilder().File("hello", "world").Build();
        var layerDigest = "blake3:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(tar));
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "blake3"));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "blake3", layerDigest[7..]), tar);
        var config = Config([Sha(tar)]);
        Put(layout, config);
        var manifest = Json(new
        {
            schemaVersion = 2, mediaType = OciManifestType,
            config = new { mediaType = OciConfigType, digest = Sha(config), size = config.Length },
            layers = new[] { new { mediaType = MediaTypes.OciLayer, digest = layerDigest, size = tar.Length } },
        });
        Put(layout, manifest);
        WriteLayoutFiles(layout, [new { mediaType = OciManifestType, digest = Sha(manifest), size = manifest.Length }]);

        using (var image = SourceOpener.OpenImage($"oci:{layout}"))
            Assert.Equal(layerDigest, Assert.Single(image.Layers).Digest);
        var e = Assert.Throws<ZarNotSupportedException>(() => SourceOpener.OpenStack($"oci:{layout}"));
        Assert.Contains("blake3", e.Message);
        Assert.Contains("cannot be verified", e.Message);
        using var stack = SourceOpener.OpenStack($"oci:{layout}", new OpenOptions { Stack = new LayerStackOptions { Verify = false } });
        Assert.Equal("world", Encoding.UTF8.GetString(stack.Merged.ReadAllBytes(stack.Merged.Stat("hello"))));
    }

    static string Put(string layout, byte[] blob)
    {
        Directory.CreateDirectory(Path.Combine(layout, "blobs", "sha256"));
        File.WriteAllBytes(Path.Combine(layout, "blobs", "sha256", Hex(Sha(blob))), blob);
        return Sha(blob);
    }
}
