using System.Text.Json;
using Zar.Consumers.Cfs;
using Zar.Sources.Registry;
using Zar.Tests.Sources.Registry;
using Zar.Tests.Support;
using Zar.Blobs;

namespace Zar.Tests.Consumers.Cfs;

public class CfsOciTests
{
    static List<string> Strings(JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToList();

    static JsonElement Inspect(params string[] args)
    {
        var r = Tools.Run(Tools.Require("skopeo"), ["inspect", .. args]);
        Assert.True(r.Code == 0, $"skopeo inspect {string.Join(' ', args)}: {r.Err}");
        return CfsTestImage.ParseJson(r.Out);
    }

    /// <summary>What skopeo reads from the CFS image (shown by `skopeo inspect` and `skopeo inspect --config`).</summary>
    internal static void AssertSkopeoSeesTheImage(CfsResult result, params string[] reference)
    {
        var names = result.Layers.Select(l => l.FileName).ToList();
        var info = Inspect(reference);
        Assert.Equal(result.Layers.Select(l => l.TarDigest), Strings(info.GetProperty("Layers")));
        Assert.Equal(CfsTestImage.Env, Strings(info.GetProperty("Env")));
        Assert.Equal("zar-test", info.GetProperty("Labels").GetProperty("org.opencontainers.image.title").GetString());
        Assert.Equal("it's \"quoted\" $x", info.GetProperty("Labels").GetProperty("com.example.note").GetString());
        Assert.Equal("amd64", info.GetProperty("Architecture").GetString());
        Assert.Equal("linux", info.GetProperty("Os").GetString());
        Assert.Equal(DateTimeOffset.Parse(CfsTestImage.Created), info.GetProperty("Created").GetDateTimeOffset());

        var config = Inspect(["--config", .. reference]);
        var c = config.GetProperty("config");
        Assert.Equal(new[] { "/usr/bin/tool", "--flag=a b" }, Strings(c.GetProperty("Entrypoint")));
        Assert.Equal(new[] { "--help", "quote\"d" }, Strings(c.GetProperty("Cmd")));
        Assert.Equal("/srv/my app", c.GetProperty("WorkingDir").GetString());
        Assert.Equal("1000:100", c.GetProperty("User").GetString());
        Assert.Equal("SIGTERM", c.GetProperty("StopSignal").GetString());
        Assert.Equal(new[] { "53/udp", "8080/tcp" }, c.GetProperty("ExposedPorts").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { "/data", "/var/log" }, c.GetProperty("Volumes").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(result.Layers.Select(l => l.TarDigest), Strings(config.GetProperty("rootfs").GetProperty("diff_ids")));
        var history = config.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(names.Select(n => $"ADD {n} / # zar cfs"), history.Select(h => h.GetProperty("created_by").GetString()));
    }

    [Fact]
    public void OciLayoutIsReadBySkopeoAndUnpacksToTheZarFiles()
    {
        Tools.RequireRoot();
        Tools.Require("umoci");
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var result = CfsGenerator.Generate(img.Reference, t["dest"]);
        var image = CfsOciImage.Build(result);
        var digest = image.WriteOciLayout(t["oci"], "cfs");
        Assert.Equal(image.ManifestDigest, digest);

        AssertSkopeoSeesTheImage(result, $"oci:{t["oci"]}:cfs");

        // Each layer blob is a tar of exactly one file, 0644 root:root, stamped with the source's created time.
        var first = result.Layers[0];
        var listing = Tools.Run("tar", ["--numeric-owner", "--utc", "-tvf", t[$"oci/blobs/sha256/{first.TarDigest[7..]}"]]);
        Assert.Equal(0, listing.Code);
        Assert.Equal($"-rw-r--r-- 0/0 {first.ZarSize} 2024-01-02 03:04 {first.FileName}",
            string.Join(' ', listing.Out.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)));

        var unpack = Tools.Run("umoci", ["unpack", "--image", $"{t["oci"]}:cfs", t["bundle"]]);
        Assert.True(unpack.Code == 0, unpack.Err);
        var rootfs = t["bundle/rootfs"];
        Assert.Equal(result.Layers.Select(l => l.FileName),
            Directory.EnumerateFileSystemEntries(rootfs).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var l in result.Layers)
            Assert.True(File.ReadAllBytes(l.Path).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(rootfs, l.FileName))), $"{l.FileName} differs");
        // umoci's runtime config is derived from the image config.
        var process = CfsTestImage.ParseJson(File.ReadAllText(t["bundle/config.json"])).GetProperty("process");
        Assert.Equal(new[] { "/usr/bin/tool", "--flag=a b", "--help", "quote\"d" }, Strings(process.GetProperty("args")));
        Assert.Equal("/srv/my app", process.GetProperty("cwd").GetString());
        Assert.Contains("GREETING=hello \"world\" $HOME \\ end", Strings(process.GetProperty("env")));
    }

    [Fact]
    public async Task SameInputGivesTheSameImage()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        // The same image from another place, as an OCI archive.
        var archive = t["image.tar"];
        Tools.Sh($"tar -cf {archive} -C {img.Layout} .");
        var a = CfsOciImage.Build(CfsGenerator.Generate(img.Reference, t["dest1"]));
        var b = CfsOciImage.Build(CfsGenerator.Generate($"oci-archive:{archive}:v1", t["dest2"]));
        Assert.Equal(a.ManifestDigest, b.ManifestDigest);
        Assert.Equal(a.Config, b.Config);
        await a.WriteOutputAsync($"oci:{t["oci1"]}", ct: TestContext.Current.CancellationToken);
        await b.WriteOutputAsync($"oci:{t["oci2"]}", ct: TestContext.Current.CancellationToken);
        Assert.Equal(File.ReadAllBytes(t["oci1/index.json"]), File.ReadAllBytes(t["oci2/index.json"]));
        var blobs1 = Directory.EnumerateFiles(t["oci1/blobs/sha256"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var blobs2 = Directory.EnumerateFiles(t["oci2/blobs/sha256"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(blobs1, blobs2);
        Assert.Equal(img.Tars.Count + 2, blobs1.Count);
        // Every blob's name is its content's digest.
        foreach (var name in blobs1) Assert.Equal("sha256:" + name, CfsTestImage.Sha256File(t[$"oci1/blobs/sha256/{name}"]));
        var index = CfsTestImage.ParseJson(File.ReadAllText(t["oci1/index.json"]));
        var entry = Assert.Single(index.GetProperty("manifests").EnumerateArray());
        Assert.Equal("latest", entry.GetProperty("annotations").GetProperty(CfsOciImage.RefNameAnnotation).GetString());
        Assert.Equal(a.ManifestDigest, entry.GetProperty("digest").GetString());

        // A second tag in the same layout keeps the first.
        a.WriteOciLayout(t["oci1"], "again");
        var tags = CfsTestImage.ParseJson(File.ReadAllText(t["oci1/index.json"])).GetProperty("manifests").EnumerateArray()
            .Select(m => m.GetProperty("annotations").GetProperty(CfsOciImage.RefNameAnnotation).GetString()).ToList();
        Assert.Equal(new[] { "latest", "again" }, tags);
    }

    [Fact]
    public async Task UnknownOutputIsRefused()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var image = CfsOciImage.Build(CfsGenerator.Generate(img.Reference, t["dest"]));
        var e = await Assert.ThrowsAsync<Zar.Model.ZarException>(() => image.WriteOutputAsync("docker-archive:/x.tar", ct: TestContext.Current.CancellationToken));
        Assert.Contains("unknown output", e.Message);
    }
}

[Collection("registry")]
public class CfsPushTests(RegistryFixture fx)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static RegistryClientOptions Opts => new()
    {
        UseAuthFiles = false,
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task PushedImageIsReadBySkopeoAndPullsBack()
    {
        var reg = fx.Plain;
        Tools.Require("skopeo");
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var result = CfsGenerator.Generate(img.Reference, t["dest"]);
        var image = CfsOciImage.Build(result);
        var digest = await image.WriteOutputAsync($"docker://{reg.Host}/cfs/test:v1", Opts, Ct);
        Assert.Equal(image.ManifestDigest, digest);

        CfsOciTests.AssertSkopeoSeesTheImage(result, "--tls-verify=false", $"docker://{reg.Host}/cfs/test:v1");

        using var client = new RegistryClient(reg.Host, Opts);
        var manifest = await client.GetManifestAsync("cfs/test", "v1", Ct);
        Assert.Equal(image.ManifestDigest, manifest.Digest);
        Assert.Equal(image.Manifest, manifest.Bytes);
        var resolved = await client.ResolveImageAsync(RegistryReference.Parse($"docker://{reg.Host}/cfs/test:v1"), null, Ct);
        Assert.Equal(image.Config, resolved.ConfigBytes);
        using var cacheDir = new TempDir();
        var paths = await client.PullBlobsAsync("cfs/test", resolved.Layers, DirectoryBlobStore.Create(cacheDir.Path), 2, null, Ct);
        foreach (var l in result.Layers)
        {
            using var tar = SingleFileTar.Open(l.Path, l.FileName, result.TarMtime);
            var expected = new MemoryStream();
            tar.CopyTo(expected);
            Assert.Equal(expected.ToArray(), File.ReadAllBytes(paths[l.TarDigest]));
        }

        // A second push under another tag finds every blob already there.
        var reports = new List<BlobProgress>();
        var again = await image.PushAsync(RegistryReference.Parse($"docker://{reg.Host}/cfs/test:v2"), Opts, new RecordingProgress<BlobProgress>(reports), Ct);
        Assert.Equal(image.ManifestDigest, again);
        Assert.Equal(result.Layers.Count + 1, reports.Count(r => r.Completed));
        Assert.All(reports.Where(r => r.Completed), r => Assert.True(r.FromCache, $"{r.Digest} was uploaded again"));
    }

    [Fact]
    public async Task PushNeedsTheCredentialsOfAnAuthenticatingRegistry()
    {
        var reg = fx.Basic;
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var image = CfsOciImage.Build(CfsGenerator.Generate(img.Reference, t["dest"]));
        var target = $"docker://{reg.Host}/cfs/auth:v1";
        var denied = await Assert.ThrowsAnyAsync<Zar.Model.ZarException>(() => image.WriteOutputAsync(target, Opts, Ct));
        Assert.DoesNotContain('\n', denied.Message);
        var withCreds = Opts with { Credential = RegistryCredential.Parse($"{RegistryFixture.User}:{RegistryFixture.Password}") };
        Assert.Equal(image.ManifestDigest, await image.WriteOutputAsync(target, withCreds, Ct));
        using var client = new RegistryClient(reg.Host, withCreds);
        Assert.Equal(image.ManifestDigest, (await client.GetManifestAsync("cfs/auth", "v1", Ct)).Digest);
    }
}

public class SingleFileTarTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(511L)]
    [InlineData(512L)]
    [InlineData((1L << 33) - 1)]      // largest octal size
    [InlineData((1L << 33) + 4097)]   // base-256 size
    public void GnuTarListsTheMember(long size)
    {
        using var t = new TempDir();
        var path = t["a.tar"];
        using (var f = File.Create(path))
        {
            f.Write(SingleFileTar.Header("01-0123456789ab.zar", size, 1_700_000_000));
            // Sparse: GNU tar seeks over member data when listing a regular file.
            f.SetLength(SingleFileTar.ArchiveSize(size));
        }
        var r = Tools.Run("tar", ["--numeric-owner", "--utc", "-tvf", path]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal($"-rw-r--r-- 0/0 {size} 2023-11-14 22:13 01-0123456789ab.zar",
            string.Join(' ', r.Out.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("", r.Err);
    }

    [Fact]
    public void StreamSeeksAndReadsLikeTheBytes()
    {
        using var t = new TempDir();
        var data = new byte[5000];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(t["f"], data);
        using var s = SingleFileTar.Open(t["f"], "f", 0);
        var all = new MemoryStream();
        s.CopyTo(all);
        var bytes = all.ToArray();
        Assert.Equal(SingleFileTar.ArchiveSize(data.Length), bytes.Length);
        Assert.Equal(SingleFileTar.Header("f", data.Length, 0), bytes[..512]);
        Assert.Equal(data, bytes[512..5512]);
        Assert.All(bytes[5512..], b => Assert.Equal(0, b));
        s.Position = 1000;
        var part = new byte[100];
        s.ReadExactly(part);
        Assert.Equal(bytes[1000..1100], part);
    }
}
