using Zar.Blobs;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Oci;
using Zar.Sources;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Sources.Registry;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Sources.Registry;
using Zar.Tests.Support;
using static Zar.Tests.Sources.Images.ImageFixtures;
using Layout = Zar.Oci.OciLayout;

namespace Zar.Tests.Sources;

/// <summary>Every spec form the opener takes, and a clear one-line error for what it cannot open.</summary>
public class SourceOpenerTests
{
    [Fact]
    public void EveryFormOpensToTheSameTree()
    {
        using var t = new TempDir();
        var tars = SampleLayers();
        using var reference = LayerStack.Open(new FileLayersSource(WriteLayerFiles(t, tars)));
        OciLayout(t["layout"], tars, [Compression.Gzip, Compression.None, Compression.Zstd], "v1");
        Tools.Sh($"tar -C {Materialize.Q(t["layout"])} -cf {Materialize.Q(t["oci.tar"])} oci-layout index.json blobs");
        var docker = LegacyDockerArchive(t, tars);
        var moby = OciShapedDockerArchive(t, tars, [Compression.None, Compression.None, Compression.None], "moby.tar", containerdIndex: false);

        var images = new Dictionary<string, string>
        {
            [$"oci:{t["layout"]}:v1"] = $"oci:{t["layout"]}:v1",
            [$"oci:{t["layout"]}"] = $"oci:{t["layout"]}",
            [t["layout"]] = $"oci:{t["layout"]}",
            [$"oci-archive:{t["oci.tar"]}:v1"] = $"oci-archive:{t["oci.tar"]}:v1",
            [t["oci.tar"]] = $"oci-archive:{t["oci.tar"]}",
            [$"docker-archive:{docker}:zar/test:1"] = $"docker-archive:{docker}:zar/test:1",
            [docker] = $"docker-archive:{docker}",
            [moby] = $"docker-archive:{moby}",
        };
        foreach (var (spec, description) in images)
        {
            using (var image = SourceOpener.OpenImage(spec)) Assert.Equal(description, image.Description);
            using (var stack = SourceOpener.OpenStack(spec)) TreeAssert.Equal(reference.Merged, stack.Merged);
            using (var fs = SourceOpener.OpenFileSystem(spec))
            {
                Assert.IsType<MergedImage>(fs);
                TreeAssert.Equal(reference.Merged, fs);
            }
        }

        // One layer, any compression, named or recognised.
        using var layer = LayerStack.Open(new FileLayersSource(WriteLayerFiles(t, [tars[0]], "one")));
        File.WriteAllBytes(t["l.tar"], tars[0]);
        File.WriteAllBytes(t["l.tgz"], Compress.Apply(tars[0], Compression.Gzip));
        File.WriteAllBytes(t["l.zst"], Compress.Apply(tars[0], Compression.Zstd));
        foreach (var spec in new[] { $"tar:{t["l.tar"]}", $"tar:{t["l.zst"]}", t["l.tar"], t["l.tgz"], t["l.zst"] })
            using (var fs = SourceOpener.OpenFileSystem(spec)) TreeAssert.Equal(layer.Merged, fs);

        // Images of a filesystem and directories open as themselves.
        ZarBuilder.Create(reference.Merged, t["merged.zar"]);
        ErofsWriter.Write(reference.Merged, t["merged.erofs"]);
        using (var fs = SourceOpener.OpenFileSystem(t["merged.zar"])) { Assert.IsType<ZarImage>(fs); TreeAssert.Equal(reference.Merged, fs, compareRoot: false); }
        using (var fs = SourceOpener.OpenFileSystem(t["merged.erofs"])) { Assert.IsType<ErofsImage>(fs); TreeAssert.Equal(reference.Merged, fs, compareRoot: false); }
        Directory.CreateDirectory(t["tree"]);
        File.WriteAllText(t["tree/f"], "x");
        foreach (var spec in new[] { t["tree"], $"dir:{t["tree"]}" })
            using (var fs = SourceOpener.OpenFileSystem(spec)) Assert.IsType<HostDirectory>(fs);
    }

    [Fact]
    public void WhatCannotBeOpenedSaysSoInOneLine()
    {
        using var t = new TempDir();
        File.WriteAllBytes(t["noise"], Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());
        Directory.CreateDirectory(t["tree"]);
        using (var tree = new HostDirectory(t["tree"])) ZarBuilder.Create(tree, t["a.zar"]);
        var errors = new List<Exception>
        {
            Assert.Throws<ZarFormatException>(() => SourceOpener.OpenFileSystem(t["noise"])),
            Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenFileSystem(t["missing"])),
            Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenFileSystem($"dir:{t["missing"]}")),
            Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenFileSystem($"oci:{t["missing"]}")),
            Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenFileSystem($"docker-archive:{t["missing"]}")),
            Assert.Throws<ZarException>(() => SourceOpener.OpenFileSystem("ftp://example.com/x")),
            Assert.Throws<ZarException>(() => SourceOpener.OpenFileSystem("oci:")),
            Assert.Throws<ZarException>(() => SourceOpener.OpenFileSystem("")),
            Assert.Throws<ZarNotFoundException>(() => SourceOpener.OpenFileSystem($"stack:{t["a.zar"]},{t["missing"]}")),
            Assert.Throws<ZarException>(() => SourceOpener.OpenStack(t["a.zar"])),
            Assert.Throws<ZarException>(() => SourceOpener.OpenStack(t["tree"])),
            Assert.Throws<ZarException>(() => SourceOpener.OpenFileSystem("docker://localhost:5000/Upper/case")),
        };
        Assert.Contains("not an image Zar can read", errors[0].Message);
        Assert.Contains("no such file or directory", errors[1].Message);
        Assert.Contains("unknown transport 'ftp'", errors[5].Message);
        Assert.Contains("missing path", errors[6].Message);
        Assert.Contains("no such file or directory", errors[8].Message);
        Assert.Contains("not a container image with layers", errors[9].Message);
        Assert.Contains("plain directory", errors[10].Message);
        Assert.Contains("invalid image reference", errors[11].Message);
        foreach (var e in errors) Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AnFlistIsRecognisedAndOtherSqliteIsNotOne()
    {
        var sqlite = Tools.Require("sqlite3");
        using var t = new TempDir();
        Assert.Equal(0, Tools.Run(sqlite, [t["x.flist"], "create table entries(key text primary key, value blob);"]).Code);
        Assert.Equal(SourceKind.Flist, SourceSpec.Parse(t["x.flist"]).Kind);
        // A SQLite database without the fl tables is refused in one line (real fls: tests/Zar.Tests/Flist).
        var e = Assert.Throws<ZarFormatException>(() => SourceOpener.OpenFileSystem(t["x.flist"]));
        Assert.Contains("not an fl", e.Message);
    }

    [Fact]
    public void SpecsParseToWhatTheyName()
    {
        using var t = new TempDir();
        Assert.Equal(new SourceSpec(SourceKind.Registry, "localhost:5000/a/b:1"), SourceSpec.Parse("docker://localhost:5000/a/b:1"));
        Assert.Equal(new SourceSpec(SourceKind.Stack, "a.zar,b.zar"), SourceSpec.Parse("stack:a.zar,b.zar"));
        Assert.Equal(new SourceSpec(SourceKind.DockerArchive, "x.tar", "@1"), SourceSpec.Parse("docker-archive:x.tar:@1"));
        Assert.Equal("docker-archive:x.tar:@1", SourceSpec.Parse("docker-archive:x.tar:@1").ToString());
        Assert.Equal("oci:/l:v1", SourceSpec.Parse("oci:/l:v1").ToString());
        // A path with a colon is a path when it exists.
        File.WriteAllBytes(t["a:b"], SampleLayers()[0]);
        Assert.Equal(new SourceSpec(SourceKind.Tar, t["a:b"]), SourceSpec.Parse(t["a:b"]));
        var custom = new OpenOptions { Transports = new Dictionary<string, Func<string, OpenOptions, IImageSource>> { ["x"] = (_, _) => throw new InvalidOperationException() } };
        Assert.Equal(new SourceSpec(SourceKind.Transport, "y") { Transport = "x" }, SourceSpec.Parse("x://y", custom));
        Assert.Contains("x:", Assert.Throws<ZarException>(() => SourceSpec.Parse("ftp:y", custom)).Message);
    }
}

/// <summary>docker:// through the opener: registry settings travel in the options, nothing is registered globally.</summary>
[Collection("registry")]
public class SourceOpenerRegistryTests(RegistryFixture fx)
{
    [Fact]
    public void RegistryImagesOpenWithTheGivenOptions()
    {
        var reg = fx.Plain;
        using var t = new TempDir();
        var img = TestImage.Create(150, layers: 2, fileSize: 5000);
        using (var client = new RegistryClient(reg.Host, new RegistryClientOptions { UseAuthFiles = false }))
            img.PushAsync(client, "opener/app", "v1").GetAwaiter().GetResult();
        var reports = new List<BlobProgress>();
        var options = new OpenOptions
        {
            Platform = Platform.Parse("linux/amd64"),
            Registry = new RegistryOptions
            {
                Client = new RegistryClientOptions { UseAuthFiles = false },
                CacheDirectory = t["cache"],
                MaxParallel = 1,
                Progress = new Collect(reports),
            },
        };
        using (var stack = SourceOpener.OpenStack($"docker://{reg.Host}/opener/app:v1", options))
        {
            Assert.Equal(img.ManifestDigest, stack.Source.ManifestDigest);
            Assert.Equal(img.Layers.Select(l => l.Descriptor.Digest), stack.Layers.Select(l => l.Digest));
            Assert.NotNull(stack.Merged.Lookup("dir15000/file0.bin"));
        }
        Assert.Contains(reports, r => r.Completed && r.Digest == img.Layers[1].Descriptor.Digest);
        // The cache is the directory given, an OCI layout naming the image.
        var index = ImageIndex.Parse(File.ReadAllBytes(Path.Combine(t["cache"], Layout.IndexFile)), "index.json");
        Assert.Equal($"{reg.Host}/opener/app:v1", Assert.Single(index.Manifests).RefName);
        Assert.True(new DirectoryBlobStore(t["cache"]).TryGetVerified(img.Layers[0].Descriptor.Digest, null, out _));
    }

    sealed class Collect(List<BlobProgress> into) : IProgress<BlobProgress>
    {
        public void Report(BlobProgress value) { lock (into) into.Add(value); }
    }
}
