using Zar.Model;
using Zar.Oci;
using Zar.Sources.Lazy;
using Zar.Sources.Registry;
using Zar.Tests.Sources.Registry;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Lazy;

/// <summary>Lazy reads of the Debian corpus image from the real docker-registry 2.8 on loopback (no referrers API:
/// indexes travel by the sha256-DIGEST.zidx tag).</summary>
[Collection("registry")]
public sealed class LazyRegistryTests(RegistryFixture fx) : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    static readonly object PushLock = new();
    static readonly HashSet<string> Pushed = [];

    /// <summary>The corpus image pushed (once per registry) with skopeo; its compressed layer bytes.</summary>
    (string Reference, long CompressedBytes) PushCorpus(RegistryServer registry, string repo)
    {
        var corpus = Tools.RequireCorpus();
        Tools.Require("skopeo");
        var reference = $"{registry.Host}/{repo}:1";
        lock (PushLock)
        {
            if (Pushed.Add(reference))
                Tools.Sh($"skopeo copy -q --dest-tls-verify=false oci:{corpus}:latest docker://{reference}");
        }
        using var client = new RegistryClient(registry.Host);
        var image = client.ResolveImageAsync(RegistryReference.Parse("docker://" + reference), Platform.Parse("linux/amd64")).GetAwaiter().GetResult();
        return (reference, image.Layers.Sum(l => l.Size));
    }

    string CorpusFile(string path)
    {
        var dir = _tmp["ref"];
        if (!Directory.Exists(dir))
        {
            Directory.CreateDirectory(dir);
            var r = ZarCli.Run("extract", "--no-verify", $"oci:{Tools.RequireCorpus()}:latest", dir, "--no-same-owner");
            Assert.True(r.Code == 0, r.Err);
        }
        return File.ReadAllText(Path.Combine(dir, path));
    }

    [Fact]
    public void PushedIndexIsFoundByTagAndCatTransfersUnderFivePercent()
    {
        var registry = fx.Plain;
        var (reference, compressed) = PushCorpus(registry, "lazy/debian");
        var push = ZarCli.Run("index", "--push", "--cache", _tmp["pusher"], "docker://" + reference);
        Assert.True(push.Code == 0, push.Err);
        Assert.Contains("pushed the indexes", push.Out);

        using var proxy = new MeteredProxy(registry.Port);
        var proxied = reference.Replace(registry.Host, proxy.Host);
        var cat = ZarCli.Run("cat", "--lazy", "--cache", _tmp["reader"], "docker://" + proxied, "/usr/lib/os-release");
        Assert.True(cat.Code == 0, cat.Err);
        Assert.Equal(CorpusFile("usr/lib/os-release"), cat.Out);
        Assert.True(proxy.BytesDown < compressed / 20, $"{proxy.BytesDown} bytes transferred of {compressed}");
        // The indexes came from the registry (none built locally: that would have streamed every layer).
        Assert.Equal(3, Directory.GetFiles(Path.Combine(_tmp["reader"], "indexes"), "*.zidx").Length);

        // A second run finds the indexes locally: only manifests, config and the one span.
        proxy.Reset();
        cat = ZarCli.Run("cat", "--lazy", "--cache", _tmp["reader"], "docker://" + proxied, "/usr/lib/os-release");
        Assert.True(cat.Code == 0, cat.Err);
        Assert.True(proxy.BytesDown < compressed / 20, $"{proxy.BytesDown} bytes transferred of {compressed}");
    }

    [Fact]
    public void WithoutAnyIndexOneIsBuiltOnTheFlyAndKept()
    {
        var registry = fx.Plain;
        var (reference, _) = PushCorpus(registry, "lazy/noindex");
        var options = new LazyOptions { Enabled = true, IndexDirectory = _tmp["idx"], Cache = new SpanCache(64 << 20) };
        using (var image = LazySource.OpenRegistry("docker://" + reference, Platform.Parse("linux/amd64"), new RegistryOptions(), options))
            Assert.Equal(CorpusFile("usr/lib/os-release"), System.Text.Encoding.UTF8.GetString(image.ReadAllBytes(image.Stat("/usr/lib/os-release"))));
        Assert.Equal(3, Directory.GetFiles(_tmp["idx"], "*.zidx").Length);
    }

    [Fact]
    public void DroppedConnectionsAreRetried()
    {
        var registry = fx.Plain;
        var (reference, _) = PushCorpus(registry, "lazy/flaky");
        Assert.Equal(0, ZarCli.Run("index", "--cache", _tmp["c"], "docker://" + reference).Code);
        using var proxy = new FlakyProxy(registry.Port, cuts: 2) { CutAfterBytes = 200_000 };
        var options = new LazyOptions { Enabled = true, IndexDirectory = Path.Combine(_tmp["c"], "indexes"), FetchFromRegistry = false, BuildMissing = false, Cache = new SpanCache(64 << 20) };
        using var image = LazySource.OpenRegistry("docker://" + reference.Replace(registry.Host, proxy.Host), Platform.Parse("linux/amd64"), new RegistryOptions(), options);
        var big = ((IReadOnlyFileSystem)image).Walk().Where(e => e.IsRegular).MaxBy(e => e.Size)!;
        var data = image.ReadAllBytes(big);
        Assert.Equal(big.Size, data.Length);
        Assert.True(proxy.Cuts > 0);
    }

    [Fact]
    public void LyingServerIsRetriedThenRefusedNamingTheBlob()
    {
        var registry = fx.Plain;
        var (reference, _) = PushCorpus(registry, "lazy/liar");
        Assert.Equal(0, ZarCli.Run("index", "--cache", _tmp["c"], "docker://" + reference).Code);
        using var proxy = new MeteredProxy(registry.Port) { CorruptRangeBodies = true };
        var proxied = reference.Replace(registry.Host, proxy.Host);
        var cat = ZarCli.Run("cat", "--lazy", "--cache", _tmp["c"], "docker://" + proxied, "/usr/lib/os-release");
        Assert.Equal(2, cat.Code);
        Assert.Equal("", cat.Out);
        Assert.Single(cat.Err.Trim().Split('\n'));
        Assert.Contains($"docker://{proxy.Host}/lazy/liar@sha256:", cat.Err);
        Assert.Contains("checksum", cat.Err);
        Assert.Equal(3, proxy.RangeResponses);
    }

    [Fact]
    public void MountOfAnImageNotPulledEqualsTheImage()
    {
        Tools.RequireRoot();
        var registry = fx.Plain;
        var (reference, compressed) = PushCorpus(registry, "lazy/mount");
        Assert.Equal(0, ZarCli.Run("index", "--push", "--cache", _tmp["pusher"], "docker://" + reference).Code);
        using var proxy = new MeteredProxy(registry.Port);
        var mnt = _tmp["mnt"];
        Directory.CreateDirectory(mnt);
        var r = ZarCli.Run("mount", "--background", "--lazy", "--cache", _tmp["reader"], "docker://" + reference.Replace(registry.Host, proxy.Host), mnt);
        Assert.True(r.Code == 0, r.Err);
        try
        {
            Assert.Equal(CorpusFile("usr/lib/os-release"), File.ReadAllText(Path.Combine(mnt, "usr/lib/os-release")));
            Assert.True(proxy.BytesDown < compressed / 20, $"{proxy.BytesDown} of {compressed} bytes after the first file");
            var diff = ZarCli.Run("diff", "--no-verify", "dir:" + mnt, $"oci:{Tools.RequireCorpus()}:latest");
            Assert.True(diff.Code == 0, diff.Out + diff.Err);
        }
        finally
        {
            ZarCli.Run("umount", mnt);
        }
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("basic")]
    [InlineData("token")]
    public async Task LazyExtractWorksWithEveryAuth(string auth)
    {
        var registry = auth switch { "basic" => fx.Basic, "token" => fx.Token, _ => fx.Plain };
        var creds = auth == "plain" ? null : new RegistryCredential(RegistryFixture.User, RegistryFixture.Password);
        var img = TestImage.Create(seed: 7, layers: 2, fileSize: 2_000_000);
        using (var client = new RegistryClient(registry.Host, new RegistryClientOptions { Credential = creds, UseAuthFiles = false }))
            await img.PushAsync(client, "lazy/auth", auth);
        var credArgs = creds == null ? Array.Empty<string>() : ["--creds", $"{RegistryFixture.User}:{RegistryFixture.Password}"];
        var reference = $"docker://{registry.Host}/lazy/auth:{auth}";
        var push = ZarCli.Run([.. credArgs, "index", "--push", "--cache", _tmp["pusher"], reference]);
        Assert.True(push.Code == 0, push.Err);

        var expected = _tmp["expected"];
        Directory.CreateDirectory(expected);
        for (int i = 0; i < img.Layers.Count; i++)
        {
            File.WriteAllBytes(_tmp[$"layer{i}.tgz"], img.Layers[i].Bytes);
            Tools.Sh($"tar -xzf '{_tmp[$"layer{i}.tgz"]}' -C '{expected}'");
        }
        var got = _tmp["got"];
        var extract = ZarCli.Run([.. credArgs, "extract", "--lazy", "--cache", _tmp["reader"], reference, got]);
        Assert.True(extract.Code == 0, extract.Err);
        var files = Directory.GetFiles(expected, "*", SearchOption.AllDirectories);
        Assert.Equal(6, files.Length);
        foreach (var f in files)
            Assert.Equal(File.ReadAllBytes(f), File.ReadAllBytes(Path.Combine(got, Path.GetRelativePath(expected, f))));
        // The reader keeps the indexes it found for next time.
        Assert.Equal(2, Directory.GetFiles(Path.Combine(_tmp["reader"], "indexes")).Length);
    }
}
