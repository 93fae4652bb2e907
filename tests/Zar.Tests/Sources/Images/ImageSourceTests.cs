using System.Text;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using static Zar.Tests.Sources.Images.ImageFixtures;
using Zar.Oci;
using Zar.Sources;

namespace Zar.Tests.Sources.Images;

public sealed class ImageSourceTests
{
    /// <summary>The merged tree of the sample layers straight from their tar files (the merge itself is checked against overlayfs elsewhere).</summary>
    static LayerStack Reference(TempDir t, IReadOnlyList<byte[]> tars) => LayerStack.Open(new FileLayersSource(WriteLayerFiles(t, tars, "ref")));

    static void AssertSampleConfig(ImageConfig c, IReadOnlyList<byte[]> tars)
    {
        Assert.Equal("1000:100", c.User);
        Assert.Equal(new[] { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8" }, c.Env);
        Assert.Equal(new[] { "/usr/bin/tool" }, c.Entrypoint);
        Assert.Equal(new[] { "--help" }, c.Cmd);
        Assert.Equal("/data", c.WorkingDir);
        Assert.Equal(new[] { "8080/tcp", "53/udp" }, c.ExposedPorts);
        Assert.Equal(new[] { "/data" }, c.Volumes);
        Assert.Equal("zar-test", c.Labels["org.opencontainers.image.title"]);
        Assert.Equal("SIGTERM", c.StopSignal);
        Assert.Equal(tars.Select(Sha), c.DiffIds);
        Assert.Equal("amd64", c.Architecture);
    }

    public static TheoryData<string> DockerLayouts => new() { "legacy", "legacy-compressed-layer.tar", "moby25", "containerd" };

    static string MakeDockerArchive(TempDir t, string layout, List<byte[]> tars) => layout switch
    {
        "legacy" => LegacyDockerArchive(t, tars),
        "legacy-compressed-layer.tar" => LegacyDockerArchive(t, tars, "legacy-gz.tar", new[] { Compression.Gzip, Compression.Zstd, Compression.Gzip }),
        "moby25" => OciShapedDockerArchive(t, tars, new[] { Compression.None, Compression.None, Compression.None }, "moby25.tar", containerdIndex: false),
        _ => OciShapedDockerArchive(t, tars, new[] { Compression.Gzip, Compression.Zstd, Compression.Gzip }, "containerd.tar", containerdIndex: true),
    };

    [Theory]
    [MemberData(nameof(DockerLayouts))]
    public void DockerArchiveLayoutsGiveTheMergedTree(string layout)
    {
        using var t = new TempDir();
        var tars = SampleLayers();
        var archive = MakeDockerArchive(t, layout, tars);
        using var reference = Reference(t, tars);
        foreach (var r in new[] { $"docker-archive:{archive}", $"docker-archive:{archive}:zar/test:1", $"docker-archive:{archive}:docker.io/zar/test:1", $"docker-archive:{archive}:@0", archive })
        {
            using var stack = SourceOpener.OpenStack(r);
            Assert.Equal(3, stack.Source.Layers.Count);
            AssertSampleConfig(stack.Source.Config, tars);
            TreeAssert.Equal(reference.Merged, stack.Merged);
        }
        var e = Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenImage($"docker-archive:{archive}:zar/other:1"));
        Assert.Contains("zar/test:1", e.Message);
    }

    /// <summary>
    /// An independent reader: skopeo converts our hand-made docker archives to an OCI layout and umoci unpacks it;
    /// the unpacked rootfs must equal our tree read straight from the archive.
    /// </summary>
    [Theory]
    [MemberData(nameof(DockerLayouts))]
    public void SkopeoAndUmociAgreeWithOurReadingOfDockerArchives(string layout)
    {
        Tools.RequireRoot();
        Tools.Require("skopeo");
        Tools.Require("umoci");
        using var t = new TempDir();
        var tars = SampleLayers();
        var archive = MakeDockerArchive(t, layout, tars);
        var r = Tools.Run("skopeo", ["copy", "-q", $"docker-archive:{archive}", $"oci:{t["sk"]}:t"]);
        Assert.True(r.Code == 0, $"skopeo: {r.Err}");
        r = Tools.Run("umoci", ["unpack", "--image", $"{t["sk"]}:t", t["bundle"]]);
        Assert.True(r.Code == 0, $"umoci: {r.Err}");
        using var stack = SourceOpener.OpenStack($"docker-archive:{archive}");
        using var unpacked = new HostDirectory(Path.Combine(t["bundle"], "rootfs"));
        TreeAssert.Equal(unpacked, stack.Merged, compareRoot: false);
        // And our reading of skopeo's layout gives the same tree again.
        using var viaSkopeo = SourceOpener.OpenStack($"oci:{t["sk"]}:t");
        TreeAssert.Equal(stack.Merged, viaSkopeo.Merged);
    }

    [Theory]
    [InlineData(Compression.Gzip, Compression.None, Compression.Gzip)] // umoci 0.4 has no zstd
    [InlineData(Compression.None, Compression.None, Compression.None)]
    public void OciLayoutAndArchiveMatchUmociUnpack(Compression c1, Compression c2, Compression c3)
    {
        Tools.RequireRoot();
        Tools.Require("umoci");
        using var t = new TempDir();
        var tars = SampleLayers();
        var layout = t["layout"];
        OciLayout(layout, tars, new[] { c1, c2, c3 }, "v1");
        var r = Tools.Run("umoci", ["unpack", "--image", $"{layout}:v1", t["bundle"]]);
        Assert.True(r.Code == 0, $"umoci: {r.Err}");
        using var unpacked = new HostDirectory(Path.Combine(t["bundle"], "rootfs"));

        using (var stack = SourceOpener.OpenStack($"oci:{layout}:v1"))
        {
            TreeAssert.Equal(unpacked, stack.Merged, compareRoot: false);
            AssertSampleConfig(stack.Source.Config, tars);
            Assert.NotNull(stack.Source.ManifestDigest);
        }
        using (var stack = SourceOpener.OpenStack($"oci:{layout}")) TreeAssert.Equal(unpacked, stack.Merged, compareRoot: false);

        // The same layout inside a tar (oci-archive:), read in place.
        Tools.Sh($"tar -C {Materialize.Q(layout)} -cf {Materialize.Q(t["oci.tar"])} oci-layout index.json blobs");
        using (var stack = SourceOpener.OpenStack($"oci-archive:{t["oci.tar"]}:v1")) TreeAssert.Equal(unpacked, stack.Merged, compareRoot: false);
        using (var fs = SourceOpener.OpenFileSystem(t["oci.tar"])) TreeAssert.Equal(unpacked, fs, compareRoot: false);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PlatformIsChosenFromIndexesAndNestedIndexes(bool nested)
    {
        using var t = new TempDir();
        var amd = SampleLayers();
        var arm = new List<byte[]> { new LayerTarBuilder().File("arch", "arm64").Build() };
        MultiPlatformLayout(t["multi"], amd, arm, nested);

        using (var stack = SourceOpener.OpenStack($"oci:{t["multi"]}:multi", new OpenOptions { Platform = Platform.Parse("linux/amd64") }))
            Assert.NotNull(stack.Merged.Lookup("etc/os-release"));
        using (var stack = SourceOpener.OpenStack($"oci:{t["multi"]}:docker.io/zar/multi:1", new OpenOptions { Platform = Platform.Parse("linux/aarch64") }))
        {
            Assert.Equal("arm64", Encoding.UTF8.GetString(stack.Merged.ReadAllBytes(stack.Merged.Stat("arch"))));
            Assert.Equal("arm64", stack.Source.Config.Architecture);
        }
        var missing = Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenImage($"oci:{t["multi"]}", new OpenOptions { Platform = Platform.Parse("linux/s390x") }));
        Assert.Contains("not in the layout", missing.Message);
        var none = Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenImage($"oci:{t["multi"]}", new OpenOptions { Platform = Platform.Parse("linux/ppc64le") }));
        Assert.Contains("linux/s390x, linux/arm64/v8, linux/amd64", none.Message);
        Assert.DoesNotContain("unknown", none.Message);
        Assert.Throws<ZarException>(() => SourceOpener.OpenImage($"oci:{t["multi"]}", new OpenOptions { Platform = Platform.Parse("amd64") }));
    }

    [Fact]
    public void TamperedBlobsAreRejectedWithClearErrors()
    {
        using var t = new TempDir();
        var tars = SampleLayers();

        // A layer blob with one byte flipped (same size): caught while streaming it.
        var layout = t["layout"];
        OciLayout(layout, tars, new[] { Compression.None, Compression.Gzip, Compression.None });
        var manifestPath = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).First(f => File.ReadAllText(f).Contains("\"layers\":["));
        var layerDigest = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(manifestPath)).RootElement.GetProperty("layers")[0].GetProperty("digest").GetString()!;
        var blob = Path.Combine(layout, "blobs", "sha256", Hex(layerDigest));
        File.WriteAllBytes(blob, FlipContentByte(File.ReadAllBytes(blob)));
        var e = Assert.Throws<ZarFormatException>(() => SourceOpener.OpenStack($"oci:{layout}"));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Contains(layerDigest, e.Message);
        Assert.Contains("layer 1/3", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        // Without verification the (uncompressed, still well-formed) layer is read.
        using (SourceOpener.OpenStack($"oci:{layout}", new OpenOptions { Stack = new LayerStackOptions { Verify = false } })) { }

        // A manifest that does not match its descriptor: refused before any layer is read.
        File.AppendAllText(manifestPath, " ");
        e = Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"oci:{layout}"));
        Assert.Contains("descriptor says", e.Message);

        // Legacy docker save: a changed layer.tar no longer matches the config's diff_id.
        var archive = LegacyDockerArchive(t, tars);
        var stage = Directory.GetDirectories(t["stage-legacy.tar"]).Select(d => Path.Combine(d, "layer.tar"))
            .First(f => File.Exists(f) && new FileInfo(f).LinkTarget == null && File.ReadAllText(f).Contains("ID=zar"));
        File.WriteAllBytes(stage, FlipContentByte(File.ReadAllBytes(stage)));
        var tampered = Pack(t, t["stage-legacy.tar"], "tampered.tar");
        e = Assert.Throws<ZarFormatException>(() => SourceOpener.OpenStack($"docker-archive:{tampered}"));
        Assert.Contains("diff_id", e.Message);
        Assert.Contains("digest mismatch", e.Message);

        // moby v25 layout: blob named by a digest its bytes do not have.
        var moby = OciShapedDockerArchive(t, tars, new[] { Compression.Gzip, Compression.None, Compression.None }, "moby.tar", containerdIndex: false);
        var mobyStage = t["stage-moby.tar"];
        var gz = Directory.GetFiles(Path.Combine(mobyStage, "blobs", "sha256")).First(f => File.ReadAllBytes(f) is [0x1F, 0x8B, ..]);
        var gzBytes = File.ReadAllBytes(gz);
        gzBytes[4] ^= 0xFF; // gzip mtime field: still valid gzip, different digest
        File.WriteAllBytes(gz, gzBytes);
        e = Assert.Throws<ZarFormatException>(() => SourceOpener.OpenStack($"docker-archive:{Pack(t, mobyStage, "moby2.tar")}"));
        Assert.Contains("blob: digest mismatch", e.Message);
    }

    /// <summary>Changes one byte of file content (not of a header), so the tar stays well-formed.</summary>
    static byte[] FlipContentByte(byte[] tar)
    {
        int at = tar.AsSpan().IndexOf("ID=zar"u8);
        Assert.True(at > 0);
        tar[at + 3] = (byte)'Z';
        return tar;
    }

    [Fact]
    public void ReferencesParseLikeSkopeo()
    {
        Assert.Equal(new SourceSpec(SourceKind.DockerArchive, "/x/a.tar", "localhost:5000/a/b:1"), SourceSpec.Parse("docker-archive:/x/a.tar:localhost:5000/a/b:1"));
        Assert.Equal(new SourceSpec(SourceKind.OciLayout, "/x/layout", "v1.0"), SourceSpec.Parse("oci:/x/layout:v1.0"));
        Assert.Equal(new SourceSpec(SourceKind.OciArchive, "a.tar", null), SourceSpec.Parse("oci-archive:a.tar"));
        Assert.Equal(new SourceSpec(SourceKind.Directory, "/srv/root:x", null), SourceSpec.Parse("dir:/srv/root:x"));
        Assert.Equal(new SourceSpec(SourceKind.LayerTar, "l.tar.gz", null), SourceSpec.Parse("tar:l.tar.gz"));
        Assert.Contains("unknown transport 'ftp'", Assert.Throws<ZarException>(() => SourceSpec.Parse("ftp:x")).Message);
        Assert.Throws<ZarNotFoundException>(() => SourceSpec.Parse("/no/such/path"));

        IImageSource? opened = null;
        var options = new OpenOptions
        {
            Transports = new Dictionary<string, Func<string, OpenOptions, IImageSource>>
            {
                ["zartest"] = (rest, _) => { Assert.Equal("host:5000/a/b:1", rest); return opened = new FileLayersSource(Array.Empty<string>()); },
            },
        };
        using (var s = SourceOpener.OpenImage("zartest://host:5000/a/b:1", options)) Assert.Same(opened, s);
    }

    [Fact]
    public void SingleLayerTarsAndPlainDirectories()
    {
        using var t = new TempDir();
        var tar = SampleLayers()[0];
        File.WriteAllBytes(t["layer.tgz"], Compress.Apply(tar, Compression.Gzip));
        File.WriteAllBytes(t["layer.tar"], tar);
        using var reference = Reference(t, new[] { tar });
        using (var fs = SourceOpener.OpenFileSystem($"tar:{t["layer.tgz"]}")) TreeAssert.Equal(reference.Merged, fs);
        using (var fs = SourceOpener.OpenFileSystem(t["layer.tar"])) TreeAssert.Equal(reference.Merged, fs); // detected as a layer
        Directory.CreateDirectory(t["tree"]);
        File.WriteAllText(Path.Combine(t["tree"], "f"), "x");
        using (var fs = SourceOpener.OpenFileSystem($"dir:{t["tree"]}"))
        {
            Assert.IsType<HostDirectory>(fs);
            Assert.NotNull(fs.Lookup("f"));
        }
        Assert.Contains("plain directory", Assert.Throws<ZarException>(() => SourceOpener.OpenImage($"dir:{t["tree"]}")).Message);
    }

    [Fact]
    public void ArchivesWithSeveralImagesAskForOne()
    {
        using var t = new TempDir();
        var stage = t["stage"];
        var (m1, _, _) = PutImage(stage, SampleLayers(), new[] { Compression.None, Compression.None, Compression.None });
        var (m2, _, _) = PutImage(stage, new List<byte[]> { new LayerTarBuilder().File("two", "2").Build() }, new[] { Compression.Gzip });
        WriteLayoutFiles(stage, new object[]
        {
            new Dictionary<string, object> { ["mediaType"] = OciManifestType, ["digest"] = Sha(m1), ["size"] = m1.Length, ["annotations"] = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = "one" } },
            new Dictionary<string, object> { ["mediaType"] = OciManifestType, ["digest"] = Sha(m2), ["size"] = m2.Length, ["annotations"] = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = "two" } },
            new Dictionary<string, object> { ["mediaType"] = "application/vnd.example.unknown", ["digest"] = Sha(m2), ["size"] = m2.Length },
        });
        var archive = Pack(t, stage, "two.tar");
        var e = Assert.Throws<ZarException>(() => SourceOpener.OpenImage($"oci-archive:{archive}"));
        Assert.Contains("one, two", e.Message);
        using var s = SourceOpener.OpenStack($"oci-archive:{archive}:two");
        Assert.Equal("2", Encoding.UTF8.GetString(s.Merged.ReadAllBytes(s.Merged.Stat("two"))));
        Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenImage($"oci-archive:{archive}:three"));
        Assert.Contains("not a docker save archive", Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"docker-archive:{Pack(t, t["stage"] + "/blobs", "blobs-only.tar")}")).Message);
    }
    [Fact]
    public void MalformedInputsFailWithOneLineErrors()
    {
        using var t = new TempDir();
        var tars = SampleLayers();
        var errors = new List<Exception>();

        File.WriteAllBytes(t["junk.tar"], Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());
        errors.Add(Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"docker-archive:{t["junk.tar"]}")));

        var stage = t["badjson"];
        Directory.CreateDirectory(stage);
        File.WriteAllText(Path.Combine(stage, "manifest.json"), "[{\"Config\": ");
        errors.Add(Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"docker-archive:{Pack(t, stage, "badjson.tar")}")));
        Assert.Contains("manifest.json", errors[^1].Message);

        File.WriteAllText(Path.Combine(stage, "manifest.json"), "[{\"Config\":\"../../etc/passwd\",\"Layers\":[]}]");
        errors.Add(Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"docker-archive:{Pack(t, stage, "escape.tar")}")));
        Assert.Contains("leaves the archive", errors[^1].Message);

        // A layer blob missing from an OCI layout.
        var layout = t["layout"];
        OciLayout(layout, tars, new[] { Compression.Gzip, Compression.Gzip, Compression.Gzip });
        var gz = Directory.GetFiles(Path.Combine(layout, "blobs", "sha256")).First(f => File.ReadAllBytes(f) is [0x1F, 0x8B, ..]);
        var gzBytes = File.ReadAllBytes(gz);
        File.Delete(gz);
        errors.Add(Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenImage($"oci:{layout}")));
        Assert.Contains("not in the layout", errors[^1].Message);

        // A truncated gzip layer (verification off, so the decompressor is what notices).
        File.WriteAllBytes(gz, gzBytes[..(gzBytes.Length / 2)]);
        errors.Add(Assert.Throws<ZarFormatException>(() => SourceOpener.OpenStack($"oci:{layout}", new OpenOptions { Stack = new LayerStackOptions { Verify = false } })));
        Assert.Matches(@"layer \d/3 \(sha256:", errors[^1].Message);
        Assert.Contains("truncated", errors[^1].Message); // .NET gzip ends quietly at a cut; the tar reader notices

        // A directory without oci-layout given as oci:.
        errors.Add(Assert.Throws<ZarFormatException>(() => SourceOpener.OpenImage($"oci:{stage}")));
        Assert.Contains("oci-layout", errors[^1].Message);

        foreach (var e in errors) Assert.DoesNotContain("\n", e.Message);
    }
}
