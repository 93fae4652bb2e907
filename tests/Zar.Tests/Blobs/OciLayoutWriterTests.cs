using System.Text.Json;
using Zar.Blobs;
using Zar.Oci;
using Zar.Sources;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using static Zar.Tests.Sources.Images.ImageFixtures;
using Layout = Zar.Oci.OciLayout;

namespace Zar.Tests.Blobs;

/// <summary>What the one layout writer writes is read back by our OCI source, by skopeo and by umoci.</summary>
public class OciLayoutWriterTests
{
    /// <summary>The sample image written through the writer (gzip and plain layers), tagged v1 (with a platform) and v2.</summary>
    static (Descriptor Manifest, List<Descriptor> Layers) WriteSample(string dir, List<byte[]> tars)
    {
        var layout = OciLayoutWriter.Create(dir);
        var layers = tars.Select((tar, i) => i == 1
            ? layout.Store.Put(MediaTypes.OciLayerGzip, Compress.Apply(tar, Compression.Gzip))
            : layout.Store.Put(MediaTypes.OciLayer, tar)).ToList();
        var config = layout.Store.Put(MediaTypes.OciConfig, Config(tars.Select(Sha)));
        var manifest = layout.Store.Put(MediaTypes.OciManifest,
            new ImageManifest { MediaType = MediaTypes.OciManifest, Config = config, Layers = layers }.ToJson());
        layout.Tag(manifest with { Platform = new Platform("linux", "amd64") }, "v1");
        layout.Tag(manifest, "v2");
        return (manifest, layers);
    }

    [Fact]
    public void TagsReplaceTheirOwnEntryAndKeepOthers()
    {
        using var t = new TempDir();
        var tars = SampleLayers();
        var (manifest, _) = WriteSample(t["oci"], tars);
        var layout = new OciLayoutWriter(new DirectoryBlobStore(t["oci"]));
        layout.Tag(manifest with { Annotations = new Dictionary<string, string> { ["note"] = "again" } }, "v1");

        Layout.CheckMarker(File.ReadAllBytes(t["oci/oci-layout"]), "t");
        var index = ImageIndex.Parse(File.ReadAllBytes(t["oci/index.json"]), "index.json");
        Assert.Equal(MediaTypes.OciIndex, index.MediaType);
        Assert.Equal(["v2", "v1"], index.Manifests.Select(m => m.RefName));
        Assert.Equal("again", index.Manifests[1].Annotation("note"));
        Assert.All(index.Manifests, m => Assert.Equal(manifest.Digest, m.Digest));

        using var reference = LayerStack.Open(new FileLayersSource(WriteLayerFiles(t, tars)));
        foreach (var tag in new[] { "v1", "v2" })
        {
            using var stack = SourceOpener.OpenStack($"oci:{t["oci"]}:{tag}");
            Assert.Equal(manifest.Digest, stack.Source.ManifestDigest);
            TreeAssert.Equal(reference.Merged, stack.Merged);
        }
    }

    [Fact]
    public void SkopeoInspectsTheLayout()
    {
        var skopeo = Tools.Require("skopeo");
        using var t = new TempDir();
        var (manifest, layers) = WriteSample(t["oci"], SampleLayers());
        var r = Tools.Run(skopeo, ["inspect", $"oci:{t["oci"]}:v1"]);
        Assert.True(r.Code == 0, r.Err);
        var info = JsonDocument.Parse(r.Out).RootElement;
        Assert.Equal(manifest.Digest, info.GetProperty("Digest").GetString());
        Assert.Equal(layers.Select(l => l.Digest), info.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal("amd64", info.GetProperty("Architecture").GetString());
        r = Tools.Run(skopeo, ["inspect", "--raw", $"oci:{t["oci"]}:v2"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(t["oci"], Layout.BlobPath(manifest.Digest))), System.Text.Encoding.UTF8.GetBytes(r.Out.TrimEnd('\n')));
    }

    [Fact]
    public void UmociUnpacksTheLayoutToOurTree()
    {
        Tools.RequireRoot();
        var umoci = Tools.Require("umoci");
        using var t = new TempDir();
        WriteSample(t["oci"], SampleLayers());
        var r = Tools.Run(umoci, ["unpack", "--image", $"{t["oci"]}:v1", t["bundle"]]);
        Assert.True(r.Code == 0, r.Err);
        using var unpacked = new HostDirectory(Path.Combine(t["bundle"], "rootfs"));
        using var stack = SourceOpener.OpenStack($"oci:{t["oci"]}:v1");
        TreeAssert.Equal(unpacked, stack.Merged, compareRoot: false);
    }
}
