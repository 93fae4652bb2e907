using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Registry;
using Zar.Tests.Support;
using Zar.Oci;
using Zar.Blobs;

namespace Zar.Tests.Sources.Registry;

/// <summary>Records requests and lets a test answer some of them itself (fault injection, redirects).</summary>
sealed class InterceptingHandler(HttpMessageHandler inner, Func<HttpRequestMessage, int, HttpResponseMessage?>? intercept = null) : DelegatingHandler(inner)
{
    public ConcurrentQueue<(HttpMethod Method, Uri Uri, string? Authorization, string? Range)> Seen { get; } = new();
    int _count;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        Seen.Enqueue((request.Method, request.RequestUri!, request.Headers.Authorization?.ToString(), request.Headers.Range?.ToString()));
        int n = Interlocked.Increment(ref _count);
        var fake = intercept?.Invoke(request, n);
        if (fake != null) { fake.RequestMessage = request; return fake; }
        return await base.SendAsync(request, ct);
    }
}

[Collection("registry")]
public class RegistryIntegrationTests(RegistryFixture fx)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static RegistryClientOptions Opts(RegistryCredential? cred = null, Func<HttpMessageHandler, HttpMessageHandler>? wrap = null) => new()
    {
        Credential = cred,
        UseAuthFiles = false,
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        WrapHandler = wrap,
    };

    static RegistryCredential Alice => new(RegistryFixture.User, RegistryFixture.Password);

    static async Task AssertPulledImageEqual(RegistryClient client, RegistryReference r, TestImage img, Platform? platform = null)
    {
        var resolved = await client.ResolveImageAsync(r, platform, Ct);
        Assert.Equal(img.Config, resolved.ConfigBytes);
        Assert.Equal(img.Layers.Select(l => l.Descriptor.Digest), resolved.Layers.Select(l => l.Digest));
        using var cacheDir = new TempDir();
        var cache = DirectoryBlobStore.Create(cacheDir.Path);
        var paths = await client.PullBlobsAsync(r.Repository, resolved.Layers, cache, maxParallel: 3, progress: null, ct: Ct);
        foreach (var (d, bytes) in img.Layers) Assert.Equal(bytes, File.ReadAllBytes(paths[d.Digest]));
    }

    [Fact]
    public async Task OwnPushOciImagePullsBackAndSkopeoReadsIt()
    {
        var reg = fx.Plain;
        Tools.Require("skopeo");
        using var client = new RegistryClient(reg.Host, Opts());
        await client.PingAsync(Ct);
        var img = TestImage.Create(1, fileSize: 20000);
        await img.PushAsync(client, "own/oci", "v1");

        var m = await client.GetManifestAsync("own/oci", "v1", Ct);
        Assert.Equal(img.Manifest, m.Bytes);
        Assert.Equal(MediaTypes.OciManifest, m.MediaType);
        Assert.Equal(img.ManifestDigest, m.Digest);
        await AssertPulledImageEqual(client, RegistryReference.Parse($"docker://{reg.Host}/own/oci:v1"), img);

        // Pushing again sends no blob bytes (HEAD finds them).
        Assert.False(await client.PushBlobAsync("own/oci", img.Layers[0].Descriptor.Digest, img.Layers[0].Bytes.Length,
            () => throw new InvalidOperationException("must not read"), Ct));

        // A third-party client sees exactly what we pushed.
        using var outDir = new TempDir();
        var r = Tools.Run("skopeo", new[] { "copy", "--src-tls-verify=false", $"docker://{reg.Host}/own/oci:v1", $"oci:{outDir["layout"]}:v1" });
        Assert.True(r.Code == 0, r.Err);
        foreach (var (d, bytes) in img.Blobs)
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(outDir["layout"], "blobs/sha256", Digest.Encoded(d.Digest))));
        Assert.Equal(img.Manifest, File.ReadAllBytes(Path.Combine(outDir["layout"], "blobs/sha256", Digest.Encoded(img.ManifestDigest))));
    }

    [Theory]
    [InlineData("v2s2", MediaTypes.DockerManifest, MediaTypes.DockerLayerGzip)]
    [InlineData("oci", MediaTypes.OciManifest, MediaTypes.OciLayerGzip)]
    public async Task SkopeoPushedImageIsPulled(string format, string manifestType, string layerType)
    {
        var reg = fx.Plain;
        Tools.Require("skopeo");
        using var dir = new TempDir();
        var img = TestImage.Create(2, fileSize: 30000);
        img.WriteOciLayout(dir["src"], "t1");
        var r = Tools.Run("skopeo", new[] { "copy", "--format", format, "--dest-tls-verify=false", $"oci:{dir["src"]}:t1", $"docker://{reg.Host}/skopeo/{format}:t1" });
        Assert.True(r.Code == 0, r.Err);

        using var client = new RegistryClient(reg.Host, Opts());
        var m = await client.GetManifestAsync($"skopeo/{format}", "t1", Ct);
        Assert.Equal(manifestType, m.MediaType);
        var resolved = await client.ResolveImageAsync(RegistryReference.Parse($"docker://{reg.Host}/skopeo/{format}:t1"), null, Ct);
        Assert.All(resolved.Layers, l => Assert.Equal(layerType, l.MediaType));
        Assert.Equal(new[] { "linux", "amd64" }, new[] { resolved.Config.Os, resolved.Config.Architecture });
        Assert.Equal(img.Layers.Select(l => l.Descriptor.Digest), resolved.Layers.Select(l => l.Digest));
        using var cacheDir = new TempDir();
        var paths = await client.PullBlobsAsync($"skopeo/{format}", resolved.Layers, DirectoryBlobStore.Create(cacheDir.Path), 2, null, Ct);
        foreach (var (d, bytes) in img.Layers) Assert.Equal(bytes, File.ReadAllBytes(paths[d.Digest]));

        // By digest: the bytes are checked against it.
        var byDigest = await client.GetManifestAsync($"skopeo/{format}", m.Digest, Ct);
        Assert.Equal(m.Bytes, byDigest.Bytes);
    }

    [Fact]
    public async Task MultiArchIndexSelectsPlatformAndListsChoices()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var amd = TestImage.Create(10, "linux", "amd64", layers: 1);
        var arm64 = TestImage.Create(11, "linux", "arm64", "v8", layers: 1);
        var armv7 = TestImage.Create(12, "linux", "arm", "v7", layers: 1);
        var noPlatform = TestImage.Create(13, "linux", "s390x", layers: 1);
        var attestation = TestImage.Create(14, "unknown", "unknown", layers: 1);
        foreach (var (img, i) in new[] { amd, arm64, armv7, noPlatform, attestation }.Select((x, i) => (x, i)))
            await img.PushAsync(client, "multi/app", "part" + i);

        Descriptor Entry(TestImage img, Platform? p, Dictionary<string, string>? ann = null) =>
            new(img.ManifestMediaType, img.ManifestDigest, img.Manifest.Length) { Platform = p, Annotations = ann };
        var index = new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests =
            [
                Entry(attestation, new Platform("unknown", "unknown"),
                    new() { ["vnd.docker.reference.type"] = "attestation-manifest" }),
                Entry(amd, new Platform("linux", "amd64")),
                Entry(arm64, new Platform("linux", "arm64", "v8")),
                Entry(armv7, new Platform("linux", "arm", "v7")),
                Entry(noPlatform, null),
                new Descriptor("application/vnd.example.unknown+json", amd.ManifestDigest, amd.Manifest.Length),
            ],
        }.ToJson();
        var indexDigest = await client.PutManifestAsync("multi/app", "latest", index, MediaTypes.OciIndex, Ct);
        var r = RegistryReference.Parse($"docker://{reg.Host}/multi/app");

        async Task<int> Pick(string? platform)
        {
            var res = await client.ResolveImageAsync(r, platform is null ? null : Platform.Parse(platform), Ct);
            Assert.Equal(new[] { indexDigest }, res.IndexDigests);
            var all = new[] { amd, arm64, armv7, noPlatform };
            return Array.FindIndex(all, i => i.ManifestDigest == res.Manifest.Digest);
        }
        Assert.Equal(0, await Pick("linux/amd64"));
        Assert.Equal(0, await Pick("linux/amd64/v3"));
        await Assert.ThrowsAsync<ZarNotFoundException>(() => Pick("linux/386")); // 386 cannot run amd64 images
        Assert.Equal(1, await Pick("linux/aarch64"));
        Assert.Equal(2, await Pick("linux/arm/v7"));
        Assert.Equal(2, await Pick("linux/arm/v8"));
        Assert.Equal(3, await Pick("linux/s390x")); // only the entry without platform, confirmed by its config
        if (Platform.Host.Architecture == "amd64") Assert.Equal(0, await Pick(null));

        var e = await Assert.ThrowsAsync<ZarNotFoundException>(() => client.ResolveImageAsync(r, Platform.Parse("linux/riscv64"), Ct));
        Assert.Contains("linux/riscv64", e.Message);
        Assert.Contains("available: linux/amd64, linux/arm64, linux/arm/v7, linux/s390x (", e.Message);
        await Assert.ThrowsAsync<ZarNotFoundException>(() => client.ResolveImageAsync(r, Platform.Parse("linux/arm/v6"), Ct));

        // Nested: an index whose entry is another index (buildx-style); selection recurses.
        var outer = new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [new Descriptor(MediaTypes.OciIndex, indexDigest, index.Length)],
        }.ToJson();
        var outerDigest = await client.PutManifestAsync("multi/app", "nested", outer, MediaTypes.OciIndex, Ct);
        var nested = await client.ResolveImageAsync(RegistryReference.Parse($"docker://{reg.Host}/multi/app:nested"), Platform.Parse("linux/arm64"), Ct);
        Assert.Equal(arm64.ManifestDigest, nested.Manifest.Digest);
        Assert.Equal(new[] { outerDigest, indexDigest }, nested.IndexDigests);
        var nestedErr = await Assert.ThrowsAsync<ZarNotFoundException>(() =>
            client.ResolveImageAsync(RegistryReference.Parse($"docker://{reg.Host}/multi/app:nested"), Platform.Parse("linux/ppc64le"), Ct));
        Assert.Contains("linux/ppc64le; available: linux/amd64, linux/arm64, linux/arm/v7, linux/s390x (", nestedErr.Message);

        var head = await client.HeadManifestAsync("multi/app", "latest", Ct);
        Assert.Equal(indexDigest, head!.Digest);
        Assert.Equal(index.Length, head.Size);
        Assert.Equal(MediaTypes.OciIndex, head.MediaType);
        Assert.Null(await client.HeadManifestAsync("multi/app", "missing", Ct));
    }

    [Fact]
    public async Task DockerManifestListAndManifestWithoutMediaType()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var plain = TestImage.Create(20, omitMediaType: true, layers: 1);
        await plain.PushAsync(client, "nomt/app", "x");
        Assert.DoesNotContain("mediaType\":\"application/vnd.oci.image.manifest", Encoding.UTF8.GetString(plain.Manifest));
        var m = await client.GetManifestAsync("nomt/app", "x", Ct);
        Assert.False(m.IsIndex);
        await AssertPulledImageEqual(client, RegistryReference.Parse($"docker://{reg.Host}/nomt/app:x"), plain);

        var d1 = TestImage.Create(21, "linux", "amd64", docker: true, layers: 1);
        var d2 = TestImage.Create(22, "linux", "arm64", docker: true, layers: 1);
        await d1.PushAsync(client, "dlist/app", "a");
        await d2.PushAsync(client, "dlist/app", "b");
        var list = new ImageIndex
        {
            MediaType = MediaTypes.DockerManifestList,
            Manifests =
            [
                new(d1.ManifestMediaType, d1.ManifestDigest, d1.Manifest.Length) { Platform = new Platform("linux", "amd64") },
                new(d2.ManifestMediaType, d2.ManifestDigest, d2.Manifest.Length) { Platform = new Platform("linux", "arm64") },
            ],
        }.ToJson();
        await client.PutManifestAsync("dlist/app", "latest", list, MediaTypes.DockerManifestList, Ct);
        var top = await client.GetManifestAsync("dlist/app", "latest", Ct);
        Assert.Equal(MediaTypes.DockerManifestList, top.MediaType);
        await AssertPulledImageEqual(client, RegistryReference.Parse($"docker://{reg.Host}/dlist/app"), d2, Platform.Parse("linux/arm64"));
        Assert.Equal(new[] { "a", "b", "latest" }, await client.ListTagsAsync("dlist/app", Ct));
    }

    [Fact]
    public async Task TamperedManifestBytesAreRefused()
    {
        var reg = fx.Plain;
        var img = TestImage.Create(30, layers: 1);
        using (var c = new RegistryClient(reg.Host, Opts())) await img.PushAsync(c, "tamper/app", "v");
        // Flip a byte of every manifest body on the way in: Docker-Content-Digest and the digest asked for must catch it.
        using var client = new RegistryClient(reg.Host, Opts(wrap: inner => new TamperingHandler(inner)));
        var e1 = await Assert.ThrowsAsync<ZarFormatException>(() => client.GetManifestAsync("tamper/app", "v", Ct));
        Assert.Contains("Docker-Content-Digest", e1.Message);
        var e2 = await Assert.ThrowsAsync<ZarFormatException>(() => client.GetManifestAsync("tamper/app", img.ManifestDigest, Ct));
        Assert.Contains("do not match the digest asked for", e2.Message);
        var e3 = await Assert.ThrowsAsync<RegistryNotFoundException>(() => client.GetManifestAsync("tamper/app", "nope", Ct));
        Assert.Contains("MANIFEST_UNKNOWN", e3.Message);
    }

    sealed class TamperingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var resp = await base.SendAsync(request, ct);
            if (!request.RequestUri!.AbsolutePath.Contains("/manifests/") || resp.StatusCode != HttpStatusCode.OK) return resp;
            var bytes = await resp.Content.ReadAsByteArrayAsync(ct);
            int i = Array.IndexOf(bytes, (byte)'2'); // schemaVersion 2 -> 3: still valid JSON
            bytes[i] = (byte)'3';
            var content = new ByteArrayContent(bytes);
            foreach (var h in resp.Content.Headers) content.Headers.TryAddWithoutValidation(h.Key, h.Value);
            resp.Content = content;
            return resp;
        }
    }

    [Fact]
    public async Task CorruptBlobInRegistryGivesClearErrorAndCachesNothing()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var img = TestImage.Create(40, layers: 1, fileSize: 50000);
        await img.PushAsync(client, "corrupt/app", "v");
        var layer = img.Layers[0];
        var stored = reg.BlobDataPath(layer.Descriptor.Digest);
        var bytes = File.ReadAllBytes(stored);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(stored, bytes);

        using var cacheDir = new TempDir();
        var cache = DirectoryBlobStore.Create(cacheDir.Path);
        var e = await Assert.ThrowsAsync<ZarFormatException>(() => client.EnsureBlobAsync("corrupt/app", layer.Descriptor, cache, null, Ct));
        Assert.Contains(layer.Descriptor.Digest, e.Message);
        Assert.Contains("does not match its digest", e.Message);
        Assert.Empty(Directory.EnumerateFiles(cacheDir.Path, "*", SearchOption.AllDirectories));
        Assert.False(cache.TryGetVerified(layer.Descriptor.Digest, null, out _));
    }

    [Fact]
    public async Task CorruptCacheEntryIsDetectedAndRefetched()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var img = TestImage.Create(41, layers: 2, fileSize: 20000);
        await img.PushAsync(client, "cache/app", "v");
        using var cacheDir = new TempDir();
        var cache = DirectoryBlobStore.Create(cacheDir.Path);
        var progress = new List<BlobProgress>();
        var paths = await client.PullBlobsAsync("cache/app", img.Layers.Select(l => l.Descriptor), cache, 2, new RecordingProgress<BlobProgress>(progress), Ct);
        Assert.Equal(Path.Combine(cacheDir.Path, "blobs/sha256", Digest.Encoded(img.Layers[0].Descriptor.Digest)), paths[img.Layers[0].Descriptor.Digest]);
        Assert.Contains(progress, p => p.Completed && !p.FromCache && p.Digest == img.Layers[1].Descriptor.Digest);

        // Same size, one byte changed, by a fresh cache instance (as a new process would see it).
        var path0 = paths[img.Layers[0].Descriptor.Digest];
        var b = File.ReadAllBytes(path0);
        b[100] ^= 1;
        File.WriteAllBytes(path0, b);
        File.WriteAllBytes(paths[img.Layers[1].Descriptor.Digest], new byte[10]);
        var fresh = DirectoryBlobStore.Create(cacheDir.Path);
        Assert.False(fresh.TryGetVerified(img.Layers[0].Descriptor.Digest, img.Layers[0].Descriptor.Size, out _));
        Assert.False(File.Exists(path0));
        progress.Clear();
        paths = await client.PullBlobsAsync("cache/app", img.Layers.Select(l => l.Descriptor), fresh, 2, new RecordingProgress<BlobProgress>(progress), Ct);
        foreach (var (d, bytes) in img.Layers) Assert.Equal(bytes, File.ReadAllBytes(paths[d.Digest]));
        Assert.DoesNotContain(progress, p => p.FromCache);
        progress.Clear();
        await client.PullBlobsAsync("cache/app", img.Layers.Select(l => l.Descriptor), fresh, 2, new RecordingProgress<BlobProgress>(progress), Ct);
        Assert.All(progress, p => Assert.True(p.FromCache));
        Assert.Equal(2, progress.Count);
    }

    [Fact]
    public async Task ConnectionCutMidBlobIsResumedWithRange()
    {
        var reg = fx.Plain;
        var img = TestImage.Create(50, layers: 1, fileSize: 400_000);
        using (var c = new RegistryClient(reg.Host, Opts())) await img.PushAsync(c, "flaky/app", "v");
        var layer = img.Layers[0];
        Assert.True(layer.Bytes.Length > 1_000_000);

        using var proxy = new FlakyProxy(reg.Port, cuts: 2) { CutAfterBytes = 300_000 };
        using var client = new RegistryClient(proxy.Host, Opts());
        using var cacheDir = new TempDir();
        var path = await client.EnsureBlobAsync("flaky/app", layer.Descriptor, DirectoryBlobStore.Create(cacheDir.Path), null, Ct);
        Assert.Equal(layer.Bytes, File.ReadAllBytes(path));
        Assert.Equal(2, proxy.Cuts);
        Assert.Contains("Range: bytes=", proxy.RequestLog);

        // The same through a plain stream reader.
        proxy.CutsLeft = 1;
        await using var s = await client.OpenBlobAsync("flaky/app", layer.Descriptor.Digest, layer.Descriptor.Size, Ct);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms, Ct);
        Assert.True(s.Verified);
        Assert.Equal(layer.Bytes, ms.ToArray());
        Assert.Equal(3, proxy.Cuts);

        // A connection that goes silent mid-body is abandoned after the idle timeout and resumed.
        using var stalling = new FlakyProxy(reg.Port, cuts: 1) { CutAfterBytes = 200_000, Stall = true };
        using var patient = new RegistryClient(stalling.Host, Opts() with { BodyIdleTimeout = TimeSpan.FromSeconds(1) });
        using var cacheDir2 = new TempDir();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(layer.Bytes, File.ReadAllBytes(await patient.EnsureBlobAsync("flaky/app", layer.Descriptor, DirectoryBlobStore.Create(cacheDir2.Path), null, Ct)));
        Assert.Equal(1, stalling.Cuts);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 30);
    }

    [Fact]
    public async Task RangedReadsValidateAndHandleServersIgnoringRange()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var img = TestImage.Create(60, layers: 1, fileSize: 30000);
        await img.PushAsync(client, "range/app", "v");
        var (d, bytes) = img.Layers[0];
        Assert.Equal(bytes[1000..1500], await client.ReadBlobRangeAsync("range/app", d.Digest, 1000, 500, Ct));
        Assert.Equal(bytes[^10..], await client.ReadBlobRangeAsync("range/app", d.Digest, bytes.Length - 10, 100, Ct));
        await Assert.ThrowsAsync<ZarFormatException>(() => client.ReadBlobRangeAsync("range/app", d.Digest, bytes.Length + 5, 10, Ct));
        Assert.Equal(bytes.Length, await client.HeadBlobAsync("range/app", d.Digest, Ct));
        Assert.Null(await client.HeadBlobAsync("range/app", Digest.Sha256([1, 2, 3]), Ct));

        // A server that ignores Range answers 200 with the whole blob: the client skips to the offset.
        using var ignoring = new RegistryClient(reg.Host, Opts(wrap: inner => new RangeStrippingHandler(inner)));
        Assert.Equal(bytes[20000..20100], await ignoring.ReadBlobRangeAsync("range/app", d.Digest, 20000, 100, Ct));
    }

    [Fact]
    public async Task RandomAccessBlobReadsMatchTheBlob()
    {
        var reg = fx.Plain;
        using var client = new RegistryClient(reg.Host, Opts());
        var img = TestImage.Create(61, layers: 1, fileSize: 100_000);
        await img.PushAsync(client, "random/app", "v");
        var (d, bytes) = img.Layers[0];
        var blob = await client.OpenRandomAccessBlobAsync("random/app", d.Digest, null, Ct);
        Assert.Equal(bytes.Length, blob.Length);
        var rnd = new Random(5);
        for (int i = 0; i < 50; i++)
        {
            long off = rnd.NextInt64(0, bytes.Length);
            var buf = new byte[rnd.Next(1, 40000)];
            int n = blob.ReadAt(off, buf);
            Assert.Equal((int)Math.Min(buf.Length, bytes.Length - off), n);
            Assert.Equal(bytes.AsSpan((int)off, n).ToArray(), buf[..n]);
        }
        var all = new byte[bytes.Length];
        blob.ReadExactlyAt(0, all);
        Assert.Equal(bytes, all);
        await Assert.ThrowsAsync<RegistryNotFoundException>(() => client.OpenRandomAccessBlobAsync("random/app", Digest.Sha256([1]), null, Ct));
    }

    sealed class RangeStrippingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            request.Headers.Range = null;
            return base.SendAsync(request, ct);
        }
    }

    [Fact]
    public async Task Retries429And5xxThenGivesUpWithinBudget()
    {
        var reg = fx.Plain;
        var img = TestImage.Create(70, layers: 1);
        using (var c = new RegistryClient(reg.Host, Opts())) await img.PushAsync(c, "retry/app", "v");
        HttpResponseMessage? Fail(HttpRequestMessage req, int n) => n switch
        {
            1 => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
            2 => new HttpResponseMessage(HttpStatusCode.TooManyRequests) { Headers = { RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(1)) } },
            3 => new HttpResponseMessage(HttpStatusCode.BadGateway),
            _ => null,
        };
        InterceptingHandler? h = null;
        using var client = new RegistryClient(reg.Host, Opts(wrap: inner => h = new InterceptingHandler(inner, Fail)));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var m = await client.GetManifestAsync("retry/app", "v", Ct);
        Assert.Equal(img.Manifest, m.Bytes);
        Assert.True(sw.Elapsed >= TimeSpan.FromSeconds(0.95), $"Retry-After honored ({sw.Elapsed})");
        Assert.Equal(4, h!.Seen.Count);

        using var broken = new RegistryClient(reg.Host, Opts(wrap: inner => new InterceptingHandler(inner, (_, _) => new HttpResponseMessage(HttpStatusCode.InternalServerError))));
        var e = await Assert.ThrowsAsync<RegistryException>(() => broken.GetManifestAsync("retry/app", "v", Ct));
        Assert.Equal(HttpStatusCode.InternalServerError, e.Status);

        // Nothing listening: connection refused is retried, then a clear error.
        using var nowhere = new RegistryClient($"127.0.0.1:{RegistryServer.FreePort()}", Opts());
        var e2 = await Assert.ThrowsAsync<ZarException>(() => nowhere.GetManifestAsync("x/y", "v", Ct));
        Assert.Contains("gave up after 7 attempts", e2.Message);
    }

    [Fact]
    public async Task RedirectsKeepAuthorizationOnlyOnSameOriginAndResendRange()
    {
        var basic = fx.Basic;
        var plain = fx.Plain;
        var img = TestImage.Create(80, layers: 1, fileSize: 20000);
        using (var c = new RegistryClient(basic.Host, Opts(Alice))) await img.PushAsync(c, "redir/app", "v");
        using (var c = new RegistryClient(plain.Host, Opts())) await img.PushAsync(c, "redir/app", "v");
        var (d, bytes) = img.Layers[0];

        // Same origin (a query added): Authorization must survive or the htpasswd registry answers 401.
        HttpResponseMessage? SameOrigin(HttpRequestMessage req, int n) =>
            req.RequestUri!.AbsolutePath.Contains("/blobs/") && !req.RequestUri.Query.Contains("again")
                ? new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri(req.RequestUri + "?again=1") } }
                : null;
        InterceptingHandler? h1 = null;
        using (var client = new RegistryClient(basic.Host, Opts(Alice, inner => h1 = new InterceptingHandler(inner, SameOrigin))))
        {
            Assert.Equal(bytes[5..25], await client.ReadBlobRangeAsync("redir/app", d.Digest, 5, 20, Ct));
            var followed = h1!.Seen.Last();
            Assert.Contains("again=1", followed.Uri.Query);
            Assert.StartsWith("Basic ", followed.Authorization);
            Assert.Equal("bytes=5-24", followed.Range);
        }

        // Another host ("localhost" is a different origin than 127.0.0.1): no Authorization, Range re-sent.
        HttpResponseMessage? Cdn(HttpRequestMessage req, int n) =>
            req.RequestUri!.Host == "127.0.0.1" && req.RequestUri.AbsolutePath.Contains("/blobs/sha256:")
                ? new HttpResponseMessage(HttpStatusCode.TemporaryRedirect)
                    { Headers = { Location = new Uri($"http://localhost:{plain.Port}{req.RequestUri.AbsolutePath}") } }
                : null;
        InterceptingHandler? h2 = null;
        using (var client = new RegistryClient(basic.Host, Opts(Alice, inner => h2 = new InterceptingHandler(inner, Cdn))))
        {
            await client.PingAsync(Ct); // learns that the registry wants Basic
            Assert.Equal(bytes[100..200], await client.ReadBlobRangeAsync("redir/app", d.Digest, 100, 100, Ct));
            var cdn = h2!.Seen.Single(s => s.Uri.Host == "localhost");
            Assert.Null(cdn.Authorization);
            Assert.Equal("bytes=100-199", cdn.Range);
            Assert.Contains(h2.Seen, s => s.Uri.Host == "127.0.0.1" && s.Authorization != null && s.Authorization.StartsWith("Basic "));
            using var cacheDir = new TempDir();
            Assert.Equal(bytes, File.ReadAllBytes(await client.EnsureBlobAsync("redir/app", d, DirectoryBlobStore.Create(cacheDir.Path), null, Ct)));
        }
    }

    [Fact]
    public async Task BasicAuthRegistry()
    {
        var reg = fx.Basic;
        var img = TestImage.Create(90, layers: 2);
        using (var client = new RegistryClient(reg.Host, Opts(Alice) with { UploadChunkSize = 1000 }))
        {
            await img.PushAsync(client, "basic/app", "v"); // chunked PATCH uploads
            await AssertPulledImageEqual(client, RegistryReference.Parse($"docker://{reg.Host}/basic/app:v"), img);
            Assert.Equal(0, client.TokenRequests);
        }

        using var dir = new TempDir();
        File.WriteAllText(dir["config.json"], "{\"auths\":{\"" + reg.Host + "\":{\"auth\":\"" + Alice.BasicHeaderValue + "\"}}}");
        using (var fromFile = new RegistryClient(reg.Host, Opts() with { AuthFile = dir["config.json"] }))
            await AssertPulledImageEqual(fromFile, RegistryReference.Parse($"docker://{reg.Host}/basic/app:v"), img);

        using (var anon = new RegistryClient(reg.Host, Opts()))
        {
            var e = await Assert.ThrowsAsync<RegistryUnauthorizedException>(() => anon.GetManifestAsync("basic/app", "v", Ct));
            Assert.Contains("401", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        using (var wrong = new RegistryClient(reg.Host, Opts(new RegistryCredential(RegistryFixture.User, "wrong"))))
            await Assert.ThrowsAsync<RegistryUnauthorizedException>(() => wrong.GetManifestAsync("basic/app", "v", Ct));
    }

    [Fact]
    public async Task BearerTokenFlowWithScopes()
    {
        var reg = fx.Token;
        var tokens = fx.TokenEndpoint;
        var img = TestImage.Create(100, layers: 1);
        using (var client = new RegistryClient(reg.Host, Opts(Alice)))
        {
            await img.PushAsync(client, "tok/app", "v");
            Assert.True(client.TokenRequests > 0);
        }
        Assert.Contains(tokens.Requests, r => r.Query.Contains("scope=repository%3Atok%2Fapp%3Apush%2Cpull") || r.Query.Contains("scope=repository%3Atok%2Fapp%3Apull%2Cpush"));
        Assert.All(tokens.Requests, r => Assert.Contains("service=zar-test-registry", r.Query));

        // A cross-repository mount needs two scopes: one `scope=` parameter each.
        while (tokens.Requests.TryDequeue(out _)) { }
        using (var client = new RegistryClient(reg.Host, Opts(Alice)))
            Assert.True(await client.MountBlobAsync("tok/other", img.Layers[0].Descriptor.Digest, "tok/app", Ct));
        Assert.Contains(tokens.Requests, r => r.Query.Split('&', '?').Contains("scope=repository%3Atok%2Fother%3Apull%2Cpush")
            && r.Query.Split('&', '?').Contains("scope=repository%3Atok%2Fapp%3Apull"));

        while (tokens.Requests.TryDequeue(out _)) { }
        InterceptingHandler? h = null;
        using (var puller = new RegistryClient(reg.Host, Opts(Alice, inner => h = new InterceptingHandler(inner))))
        {
            await AssertPulledImageEqual(puller, RegistryReference.Parse($"docker://{reg.Host}/tok/app:v"), img);
            var seen = tokens.Requests.ToList();
            Assert.NotEmpty(seen);
            Assert.All(seen, r => Assert.Equal("Basic " + Alice.BasicHeaderValue, r.Authorization));
            Assert.Contains(seen, r => r.Query.Split('&').Contains("scope=repository%3Atok%2Fapp%3Apull"));
            // Requests to the registry after the challenge carried the issued token.
            Assert.Contains(h!.Seen, s => s.Uri.Port == reg.Port && s.Authorization is { } a && a.StartsWith("Bearer tok-"));
            Assert.True(seen.Count <= 2, $"token cached per scope ({seen.Count} token requests)");
        }

        using var bad = new RegistryClient(reg.Host, Opts(new RegistryCredential("alice", "nope")));
        var e = await Assert.ThrowsAsync<RegistryUnauthorizedException>(() => bad.GetManifestAsync("tok/app", "v", Ct));
        Assert.Contains("token server", e.Message);
    }
}

[Collection("registry")]
public class RegistryAuthFlowTests(RegistryFixture fx)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static RegistryCredential Alice => new(RegistryFixture.User, RegistryFixture.Password);

    static RegistryClientOptions Opts(RegistryCredential? cred = null, Func<HttpMessageHandler, HttpMessageHandler>? wrap = null) => new()
    {
        Credential = cred,
        UseAuthFiles = false,
        InitialBackoff = TimeSpan.FromMilliseconds(20),
        MaxBackoff = TimeSpan.FromMilliseconds(200),
        WrapHandler = wrap,
    };

    [Fact]
    public async Task SignedJwtTokenServerScopesAreEnforcedByTheRegistry()
    {
        var (issuer, tokens, reg) = fx.Jwt;
        var img = TestImage.Create(110, layers: 2);
        using (var client = new RegistryClient(reg.Host, Opts(Alice)))
        {
            await img.PushAsync(client, "jwt/app", "v");
            var resolved = await client.ResolveImageAsync(RegistryReference.Parse($"docker://{reg.Host}/jwt/app:v"), null, Ct);
            Assert.Equal(img.Config, resolved.ConfigBytes);
            using var cacheDir = new TempDir();
            var paths = await client.PullBlobsAsync("jwt/app", resolved.Layers, DirectoryBlobStore.Create(cacheDir.Path), 2, null, Ct);
            foreach (var (d, bytes) in img.Layers) Assert.Equal(bytes, File.ReadAllBytes(paths[d.Digest]));
        }
        // The registry checks the signed grant: without "push" in the token, uploads are refused.
        issuer.Deny.Add("push");
        try
        {
            using var client = new RegistryClient(reg.Host, Opts(Alice));
            var other = TestImage.Create(111, layers: 1);
            var e = await Assert.ThrowsAsync<RegistryUnauthorizedException>(() => other.PushAsync(client, "jwt/app", "w"));
            Assert.Contains("401", e.Message);
            // Pull still works with the pull-only grant.
            Assert.Equal(img.Manifest, (await client.GetManifestAsync("jwt/app", "v", Ct)).Bytes);
        }
        finally { issuer.Deny.Clear(); }
        using var anon = new RegistryClient(reg.Host, Opts());
        await Assert.ThrowsAsync<RegistryUnauthorizedException>(() => anon.GetManifestAsync("jwt/app", "v", Ct));
    }

    [Fact]
    public async Task BearerTokenRefreshedOn401AndOnExpiry()
    {
        var reg = fx.Token;
        var tokens = fx.TokenEndpoint;
        var img = TestImage.Create(120, layers: 1);
        using (var c = new RegistryClient(reg.Host, Opts(Alice))) await img.PushAsync(c, "refresh/app", "v");

        // A registry that stops accepting the current token (revoked) answers 401 once: the client fetches a new one.
        int armed = 0;
        HttpResponseMessage? RejectOnce(HttpRequestMessage req, int n)
        {
            if (req.Headers.Authorization?.Scheme != "Bearer" || Volatile.Read(ref armed) == 0 || Interlocked.Exchange(ref armed, 0) == 0) return null;
            var r = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            r.Headers.TryAddWithoutValidation("WWW-Authenticate",
                $"Bearer realm=\"{tokens.Realm}\",service=\"zar-test-registry\",scope=\"repository:refresh/app:pull\",error=\"invalid_token\"");
            return r;
        }
        using (var client = new RegistryClient(reg.Host, Opts(Alice, inner => new InterceptingHandler(inner, RejectOnce))))
        {
            await client.GetManifestAsync("refresh/app", "v", Ct);
            await client.GetManifestAsync("refresh/app", "v", Ct);
            Assert.Equal(1, client.TokenRequests);
            armed = 1;
            Assert.Equal(img.Manifest, (await client.GetManifestAsync("refresh/app", "v", Ct)).Bytes);
            Assert.Equal(2, client.TokenRequests);
            Assert.Equal(0, armed);
        }

        // 3 s tokens are renewed after 2.25 s: room for a slow first request on a loaded machine
        // (1 s tokens left 0.75 s and made this flaky when heavy test classes ran alongside).
        tokens.ExpiresIn = 3;
        try
        {
            using var client = new RegistryClient(reg.Host, Opts(Alice));
            await client.GetManifestAsync("refresh/app", "v", Ct);
            Assert.Equal(1, client.TokenRequests);
            await Task.Delay(3100, Ct);
            await client.GetManifestAsync("refresh/app", "v", Ct);
            Assert.Equal(2, client.TokenRequests);
        }
        finally { tokens.ExpiresIn = 300; }
    }

    [Fact]
    public async Task FailedUploadIsRestartedFromANewSession()
    {
        var reg = fx.Plain;
        int failures = 0;
        HttpResponseMessage? FailFirstPut(HttpRequestMessage req, int n) =>
            req.Method == HttpMethod.Put && req.RequestUri!.Query.Contains("digest=") && Interlocked.Increment(ref failures) == 1
                ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"busy\"}]}") }
                : null;
        InterceptingHandler? h = null;
        using var client = new RegistryClient(reg.Host, Opts(wrap: inner => h = new InterceptingHandler(inner, FailFirstPut)));
        var data = TestImage.LayerTarGz(7, 2, 5000);
        var d = await client.PushBlobAsync("upload/retry", data, MediaTypes.OciLayerGzip, Ct);
        Assert.Equal(2, h!.Seen.Count(s => s.Method == HttpMethod.Post));
        Assert.Equal(data.Length, await client.HeadBlobAsync("upload/retry", d.Digest, Ct));
        Assert.Equal(data[..64], await client.ReadBlobRangeAsync("upload/retry", d.Digest, 0, 64, Ct));
    }
}

[Collection("registry")]
public class RegistryPullTests(RegistryFixture fx)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PullImageFillsCacheAsAnOciLayoutSkopeoCanRead()
    {
        var reg = fx.Plain;
        Tools.Require("skopeo");
        using var client = new RegistryClient(reg.Host, new RegistryClientOptions { UseAuthFiles = false });
        var a = TestImage.Create(130, layers: 2, fileSize: 10000);
        var b = TestImage.Create(131, layers: 1, fileSize: 10000);
        await a.PushAsync(client, "pull/app", "a");
        await b.PushAsync(client, "pull/app", "b");
        using var dir = new TempDir();
        var cache = DirectoryBlobStore.Create(dir["cache"]);
        var progress = new List<BlobProgress>();
        var pa = await client.PullImageAsync(RegistryReference.Parse($"docker://{reg.Host}/pull/app:a"), cache, Platform.Parse("linux/amd64"), 2,
            new RecordingProgress<BlobProgress>(progress), Ct);
        var pb = await client.PullImageAsync(RegistryReference.Parse($"docker://{reg.Host}/pull/app:b"), cache, null, 2, null, Ct);
        Assert.Equal(a.Manifest, File.ReadAllBytes(pa.ManifestPath));
        Assert.Equal(a.Config, File.ReadAllBytes(pa.ConfigPath));
        Assert.Equal(a.Layers.Select(l => l.Bytes), pa.LayerPaths.Select(File.ReadAllBytes));
        Assert.Equal($"{reg.Host}/pull/app:a", pa.RefName);
        Assert.Contains(progress, p => p.Completed && p.Digest == a.Layers[1].Descriptor.Digest);

        // Re-pulling "a" replaces its index entry instead of adding another.
        await client.PullImageAsync(RegistryReference.Parse($"docker://{reg.Host}/pull/app:a"), cache, null, 2, null, Ct);
        var index = ImageIndex.Parse(File.ReadAllBytes(Path.Combine(cache.Root, "index.json")), "index");
        Assert.Equal(2, index.Manifests!.Count);

        foreach (var (pulled, img) in new[] { (pa, a), (pb, b) })
        {
            var outDir = dir["out-" + pulled.Image.Manifest.Digest[7..19]];
            var r = Tools.Run("skopeo", new[] { "copy", $"oci:{cache.Root}:{pulled.RefName}", $"dir:{outDir}" });
            Assert.True(r.Code == 0, r.Err);
            foreach (var (d, bytes) in img.Layers) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(outDir, Digest.Encoded(d.Digest))));
        }

        // Cross-repository mount: the blob appears in the new repository without an upload.
        Assert.True(await client.MountBlobAsync("pull/other", a.Layers[0].Descriptor.Digest, "pull/app", Ct));
        Assert.NotNull(await client.HeadBlobAsync("pull/other", a.Layers[0].Descriptor.Digest, Ct));
        Assert.False(await client.MountBlobAsync("pull/other", Digest.Sha256([9, 9]), "pull/app", Ct));
    }

    [Fact]
    public async Task CopyBetweenRegistriesThroughTheCache()
    {
        var from = fx.Plain;
        var to = fx.Basic;
        Tools.Require("skopeo");
        var img = TestImage.Create(140, layers: 3, fileSize: 8000, docker: true);
        using var src = new RegistryClient(from.Host, new RegistryClientOptions { UseAuthFiles = false });
        await img.PushAsync(src, "copy/src", "v1");
        using var dir = new TempDir();
        var pulled = await src.PullImageAsync(RegistryReference.Parse($"docker://{from.Host}/copy/src:v1"), DirectoryBlobStore.Create(dir["cache"]), null, 3, null, Ct);
        using var dst = new RegistryClient(to.Host, new RegistryClientOptions { UseAuthFiles = false, Credential = new(RegistryFixture.User, RegistryFixture.Password) });
        var digest = await dst.PushImageAsync(RegistryReference.Parse($"docker://{to.Host}/copy/dst:v2"), pulled, 3, null, Ct);
        Assert.Equal(img.ManifestDigest, digest);

        var r = Tools.Run("skopeo", new[] { "inspect", "--raw", "--tls-verify=false", "--creds", $"{RegistryFixture.User}:{RegistryFixture.Password}",
            $"docker://{to.Host}/copy/dst:v2" });
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(img.Manifest, Encoding.UTF8.GetBytes(r.Out.TrimEnd('\n')));
        r = Tools.Run("skopeo", new[] { "copy", "--src-tls-verify=false", "--src-creds", $"{RegistryFixture.User}:{RegistryFixture.Password}",
            $"docker://{to.Host}/copy/dst:v2", $"dir:{dir["out"]}" });
        Assert.True(r.Code == 0, r.Err);
        foreach (var (d, bytes) in img.Blobs) Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(dir["out"], Digest.Encoded(d.Digest))));
    }
}
