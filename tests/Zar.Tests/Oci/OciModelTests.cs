using System.Text;
using System.Text.Json;
using Zar.Model;
using Zar.Oci;

namespace Zar.Tests.Oci;

/// <summary>Each OCI JSON type reads what it writes, in the spec's field order, and reads what other tools write.</summary>
public class OciModelTests
{
    const string D1 = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    const string D2 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    static JsonElement Element(string json) => JsonDocument.Parse(json).RootElement;

    static string Written(Action<Utf8JsonWriter> write)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) write(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void DescriptorRoundTripsEveryField()
    {
        const string json = """{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9","size":11,"urls":["https://example.com/b"],"annotations":{"org.opencontainers.image.ref.name":"v1"},"data":"aGVsbG8gd29ybGQ=","artifactType":"application/example","platform":{"architecture":"arm64","os":"linux","os.version":"6.1","os.features":["f1"],"variant":"v8"}}""";
        var d = Descriptor.Read(Element(json), "t");
        Assert.Equal(MediaTypes.OciManifest, d.MediaType);
        Assert.Equal(D1, d.Digest);
        Assert.Equal(11, d.Size);
        Assert.Equal(["https://example.com/b"], d.Urls!);
        Assert.Equal("v1", d.RefName);
        Assert.Equal("hello world", Encoding.UTF8.GetString(d.Data!));
        Assert.Equal("application/example", d.ArtifactType);
        Assert.Equal(new Platform("linux", "arm64", "v8", "6.1") { OsFeatures = ["f1"] }, d.Platform);
        Assert.Equal("linux/arm64/v8", d.PlatformText);
        // System.Text.Json's default encoder escapes '+'; the JSON is the same.
        Assert.Equal(json.Replace("+", "\\u002B"), Written(w => d.Write(w)));
    }

    [Fact]
    public void DescriptorRequiresDigestAndSizeButToleratesOddOptionalFields()
    {
        Assert.Contains("invalid digest", Assert.Throws<ZarFormatException>(() => Descriptor.Read(Element("""{"digest":"md5:","size":1}"""), "t")).Message);
        Assert.Contains("no valid size", Assert.Throws<ZarFormatException>(() => Descriptor.Read(Element($$"""{"digest":"{{D1}}"}"""), "t")).Message);
        Assert.Contains("no valid size", Assert.Throws<ZarFormatException>(() => Descriptor.Read(Element($$"""{"digest":"{{D1}}","size":-1}"""), "t")).Message);
        Assert.Contains("base64", Assert.Throws<ZarFormatException>(() => Descriptor.Read(Element($$"""{"digest":"{{D1}}","size":1,"data":"%%"}"""), "t")).Message);
        Assert.Contains("not a JSON object", Assert.Throws<ZarFormatException>(() => Descriptor.Read(Element("[]"), "t")).Message);
        var odd = Descriptor.Read(Element($$$"""{"digest":"{{{D1}}}","size":1,"mediaType":5,"platform":"linux","annotations":{"a":"b","n":1}}"""), "t");
        Assert.Null(odd.MediaType);
        Assert.True(odd.IsImageOrIndex);
        Assert.Null(odd.Platform);
        Assert.Equal("(no platform)", odd.PlatformText);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "b" }, odd.Annotations);
        // A platform naming neither os nor architecture is no platform.
        Assert.Null(Descriptor.Read(Element($$$"""{"digest":"{{{D1}}}","size":1,"platform":{}}"""), "t").Platform);
    }

    [Fact]
    public void ManifestRoundTripsAndGivesStableBytes()
    {
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor(MediaTypes.OciConfig, D2, 2),
            Layers = [new Descriptor(MediaTypes.OciLayerGzip, D1, 11), new Descriptor(MediaTypes.OciLayer, D2, 2)],
            Subject = new Descriptor(MediaTypes.OciManifest, D1, 11),
            Annotations = new Dictionary<string, string> { ["k"] = "v" },
        };
        var json = manifest.ToJson();
        Assert.Equal(
            $$$"""{"schemaVersion":2,"mediaType":"{{{MediaTypes.OciManifest}}}","config":{"mediaType":"{{{MediaTypes.OciConfig}}}","digest":"{{{D2}}}","size":2},"layers":[{"mediaType":"{{{MediaTypes.OciLayerGzip}}}","digest":"{{{D1}}}","size":11},{"mediaType":"{{{MediaTypes.OciLayer}}}","digest":"{{{D2}}}","size":2}],"subject":{"mediaType":"{{{MediaTypes.OciManifest}}}","digest":"{{{D1}}}","size":11},"annotations":{"k":"v"}}""",
            Encoding.UTF8.GetString(json).Replace("\\u002B", "+"));
        var back = ImageManifest.Parse(json, "t");
        Assert.Equal(manifest.Config, back.Config);
        Assert.Equal(manifest.Layers, back.Layers);
        Assert.Equal(manifest.Subject, back.Subject);
        Assert.Equal(manifest.Annotations, back.Annotations);
        Assert.Equal(json, back.ToJson());
        Assert.Contains("not a list", Assert.Throws<ZarFormatException>(() => ImageManifest.Parse("""{"layers":{}}"""u8.ToArray(), "t")).Message);
        Assert.Contains("invalid JSON", Assert.Throws<ZarFormatException>(() => ImageManifest.Parse("{"u8.ToArray(), "t")).Message);
    }

    [Fact]
    public void IndexRoundTripsAndSkipsEntriesOfOtherTypes()
    {
        var index = new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests =
            [
                new Descriptor(MediaTypes.OciManifest, D1, 11) { Platform = new Platform("linux", "amd64") },
                new Descriptor("application/vnd.example.sbom", D2, 2),
                new Descriptor(MediaTypes.DockerManifestList, D2, 2),
                new Descriptor(null, D1, 11),
            ],
        };
        foreach (var indented in new[] { false, true })
        {
            var back = ImageIndex.Parse(index.ToJson(indented), "t");
            Assert.Equal(index.Manifests, back.Manifests);
            Assert.Equal(index.ToJson(), back.ToJson());
        }
        Assert.Equal([index.Manifests[0], index.Manifests[2], index.Manifests[3]], index.Images);
    }

    [Fact]
    public void ManifestDocumentTellsIndexFromManifest()
    {
        var manifest = new ImageManifest { Config = new Descriptor(MediaTypes.OciConfig, D2, 2) }.ToJson(); // no mediaType: old OCI
        var doc = ManifestDocument.Read(manifest, null, Digest.Sha256(manifest), "t");
        Assert.False(doc.IsIndex);
        Assert.Equal(MediaTypes.OciManifest, doc.MediaType);
        Assert.Equal(new Descriptor(MediaTypes.OciManifest, Digest.Sha256(manifest), manifest.Length), doc.Descriptor);
        Assert.Equal(D2, doc.AsManifest("t").Config!.Digest);
        Assert.Throws<ZarFormatException>(() => doc.AsIndex("t"));

        var list = new ImageIndex().ToJson();
        var declared = ManifestDocument.Read(list, MediaTypes.DockerManifestList, D1, "t");
        Assert.True(declared.IsIndex);
        Assert.Equal(MediaTypes.DockerManifestList, declared.MediaType);
        Assert.Empty(declared.AsIndex("t").Manifests);
        // The body's own mediaType wins over what the referrer declared.
        var body = new ImageIndex { MediaType = MediaTypes.OciIndex }.ToJson();
        Assert.Equal(MediaTypes.OciIndex, ManifestDocument.Read(body, MediaTypes.OciManifest, D1, "t").MediaType);
    }

    [Fact]
    public void ConfigReadsRuntimeFieldsAndWritesDerivedConfigs()
    {
        var source = Encoding.UTF8.GetBytes("""
            {"created":"2024-01-02T03:04:05Z","author":"me","architecture":"arm","os":"linux","variant":"v7","os.version":"1",
             "config":{"User":"1:2","Env":["A=1"],"Cmd":"run","Entrypoint":["/e"],"WorkingDir":"/w","ExposedPorts":{"80/tcp":{}},
                       "Volumes":{"/v":{}},"Labels":{"l":"x","n":3},"StopSignal":"SIGINT","Healthcheck":{"Test":["CMD","true"]}},
             "rootfs":{"type":"layers","diff_ids":["sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"]},
             "history":[{"created_by":"a"},{"created_by":"b","empty_layer":true},"junk"]}
            """);
        var c = ImageConfig.Parse(source, "t");
        Assert.Equal(Digest.Sha256(source), c.Digest);
        Assert.Equal(new Platform("linux", "arm", "v7", "1"), c.Platform);
        Assert.Equal(["A=1"], c.Env);
        Assert.Equal(["run"], c.Cmd!); // a lone string is a one-word command
        Assert.Equal(["/e"], c.Entrypoint!);
        Assert.Equal(["80/tcp"], c.ExposedPorts);
        Assert.Equal(["/v"], c.Volumes);
        Assert.Equal("3", c.Labels["n"]);
        Assert.Equal([D1], c.DiffIds);
        Assert.Equal([new HistoryEntry(null, "a", null), new HistoryEntry(null, "b", null, EmptyLayer: true)], c.History);

        var derived = c.WithLayers([D2], [new HistoryEntry(c.Created, "ADD x /", "layer 1")]);
        Assert.Equal(derived, c.WithLayers([D2], [new HistoryEntry(c.Created, "ADD x /", "layer 1")])); // deterministic
        var d = ImageConfig.Parse(derived, "derived");
        Assert.Equal((c.Created, c.Author, c.Platform, c.User, c.WorkingDir, c.StopSignal), (d.Created, d.Author, d.Platform, d.User, d.WorkingDir, d.StopSignal));
        Assert.Equal(c.Env, d.Env);
        Assert.Equal(c.Labels, d.Labels);
        Assert.Equal([D2], d.DiffIds);
        Assert.Equal([new HistoryEntry("2024-01-02T03:04:05Z", "ADD x /", "layer 1")], d.History);
        // Runtime fields this type does not model travel verbatim.
        Assert.Equal("""{"Test":["CMD","true"]}""", JsonDocument.Parse(derived).RootElement.GetProperty("config").GetProperty("Healthcheck").GetRawText());

        var empty = ImageConfig.Empty("arm64");
        Assert.Equal(new Platform("linux", "arm64"), empty.Platform);
        Assert.Empty(empty.DiffIds);
        Assert.Equal(empty.Json, ImageConfig.Empty("arm64").Json);

        Assert.Contains("rootfs.type", Assert.Throws<ZarFormatException>(() => ImageConfig.Parse("""{"rootfs":{"type":"zfs"}}"""u8.ToArray(), "t")).Message);
        Assert.Contains("'User' is not a string", Assert.Throws<ZarFormatException>(() => ImageConfig.Parse("""{"config":{"User":1}}"""u8.ToArray(), "t")).Message);
    }

    [Fact]
    public void PlatformJsonAndTextAgree()
    {
        var p = Platform.Read(Element("""{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1879","os.features":["win32k"]}"""), "t")!;
        Assert.Equal("windows/amd64", p.ToString());
        Assert.Equal("10.0.17763.1879", p.OsVersion);
        Assert.Equal(["win32k"], p.OsFeatures!);
        var written = Written(w => { w.WriteStartObject(); p.Write(w); w.WriteEndObject(); });
        Assert.Equal(p, Platform.Read(Element(written).GetProperty("platform"), "t"));
        Assert.NotEqual(p, p with { OsFeatures = null });
        Assert.Equal(Platform.Parse("linux/arm/v7"), Platform.Parse(Platform.Parse("linux/armhf").ToString()));
        Assert.Null(Platform.Read(Element("""{"variant":"v7"}"""), "t"));
    }
}
