using System.Text;
using Zar.Blobs;
using Zar.Model;
using Zar.Oci;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using Zar.Tests.Sources.Images;

namespace Zar.Tests.Blobs;

public class BlobStoreTests
{
    [Fact]
    public void DirectoryStorePutsOnlyVerifiedBlobs()
    {
        using var t = new TempDir();
        var store = DirectoryBlobStore.Create(t["store"]);
        var data = Encoding.UTF8.GetBytes("some blob");
        var d = store.Put(MediaTypes.OciLayer, data);
        Assert.Equal(Digest.Sha256(data), d.Digest);
        Assert.Equal(Path.Combine(t["store"], "blobs", "sha256", Digest.Encoded(d.Digest)), store.PathFor(d.Digest));
        Assert.True(store.Exists(OciLayout.BlobPath(d.Digest)));
        Assert.Equal(data.Length, store.Length(OciLayout.BlobPath(d.Digest)));
        Assert.Equal(new FileWindow(store.PathFor(d.Digest), 0, data.Length), store.Locate(OciLayout.BlobPath(d.Digest)));
        using (var s = store.Open(OciLayout.BlobPath(d.Digest))) Assert.Equal(data, ReadAll(s));

        // Wrong content for the digest, and wrong size: nothing appears under either name.
        var other = Digest.Sha256([1, 2, 3]);
        Assert.Contains("digest mismatch", Assert.Throws<ZarFormatException>(() => store.Put(other, null, new MemoryStream(data))).Message);
        Assert.Contains("longer than", Assert.Throws<ZarFormatException>(() => store.Put(d.Digest, 3, new MemoryStream(data))).Message);
        Assert.False(File.Exists(store.PathFor(other)));
        Assert.Single(Directory.EnumerateFiles(t["store"], "*", SearchOption.AllDirectories));

        // A damaged entry is found by a fresh instance (another process), removed, and reported missing.
        File.WriteAllBytes(store.PathFor(d.Digest), Encoding.UTF8.GetBytes("some blub"));
        var fresh = new DirectoryBlobStore(t["store"]);
        Assert.False(fresh.TryGetVerified(d.Digest, data.Length, out _));
        Assert.False(File.Exists(store.PathFor(d.Digest)));
        Assert.Contains("is missing", Assert.Throws<ZarNotFoundException>(() => fresh.Open(OciLayout.BlobPath(d.Digest))).Message);

        Assert.Throws<ZarFormatException>(() => store.PathFor("sha256:../../x"));
        Assert.Contains("leaves the archive", Assert.Throws<ZarFormatException>(() => store.Exists("../x")).Message);
    }

    [Fact]
    public void TarStoreReadsMembersInPlaceAndFollowsLinks()
    {
        using var t = new TempDir();
        var stage = t["stage"];
        Directory.CreateDirectory(Path.Combine(stage, "a"));
        File.WriteAllText(Path.Combine(stage, "a", "layer.tar"), "first layer bytes");
        Directory.CreateDirectory(Path.Combine(stage, "b"));
        File.CreateSymbolicLink(Path.Combine(stage, "b", "layer.tar"), "../a/layer.tar");
        var archive = ImageFixtures.Pack(t, stage, "x.tar");
        using var store = new TarBlobStore(archive, "x.tar");
        foreach (var member in new[] { "a/layer.tar", "b/layer.tar", "./b/layer.tar" })
        {
            Assert.True(store.Exists(member));
            var window = store.Locate(member);
            Assert.Equal(archive, window.File);
            Assert.Equal(17, window.Length);
            // The window is the member's bytes inside the archive file.
            using var f = File.OpenRead(archive);
            f.Position = window.Offset;
            var raw = new byte[window.Length];
            f.ReadExactly(raw);
            Assert.Equal("first layer bytes", Encoding.UTF8.GetString(raw));
            using var s = store.Open(member);
            Assert.True(s.CanSeek);
            Assert.Equal(raw, ReadAll(s));
        }
        Assert.False(store.Exists("c/layer.tar"));
        Assert.Throws<ZarNotFoundException>(() => store.Open("c/layer.tar"));

        File.WriteAllBytes(t["x.tar.gz"], Compress.Apply(File.ReadAllBytes(archive), Compression.Gzip));
        Assert.Contains("decompress it first", Assert.Throws<ZarNotSupportedException>(() => new TarBlobStore(t["x.tar.gz"], "x.tar.gz")).Message);
    }

    static byte[] ReadAll(Stream s)
    {
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
