using System.Net;
using System.Net.Http.Headers;
using Zar.Formats.LayerIndex;
using Zar.Oci;
using Zar.Sources.Lazy;
using Zar.Sources.Registry;
using Zar.Tests.Sources.Registry;

namespace Zar.Tests.Sources.Lazy;

/// <summary>Indexes as an OCI artifact: the tag fallback on docker-registry 2.8 (no referrers API), and the referrers
/// API path against a registry that has one (2.8 behind a handler answering /referrers/ and hiding the tag).</summary>
[Collection("registry")]
public sealed class IndexRegistryTests(RegistryFixture fx)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<(TestImage Image, List<LayerIndex> Indexes, Descriptor Manifest)> PushImage(RegistryClient client, string repo)
    {
        var img = TestImage.Create(seed: 42, fileSize: 300_000);
        await img.PushAsync(client, repo, "v1");
        var indexes = img.Layers.Select(l => LayerIndexBuilder.Build(new MemoryStream(l.Bytes), l.Descriptor.Digest, l.Descriptor.Digest)).ToList();
        return (img, indexes, new Descriptor(img.ManifestMediaType, img.ManifestDigest, img.Manifest.Length));
    }

    [Fact]
    public async Task WithoutReferrersApiTheTagFallbackIsPushedAndFound()
    {
        var registry = fx.Plain;
        using var client = new RegistryClient(registry.Host);
        var (img, indexes, manifest) = await PushImage(client, "zidx/tag");
        Assert.Null(await client.GetReferrersAsync("zidx/tag", manifest.Digest, IndexRegistry.ArtifactType, Ct));
        var artifact = await IndexRegistry.PushAsync(client, "zidx/tag", manifest, indexes, Ct);
        var byTag = await client.GetManifestAsync("zidx/tag", IndexRegistry.FallbackTag(manifest.Digest), Ct);
        Assert.Equal(artifact, byTag.Digest);

        var layers = img.Layers.Select(l => l.Descriptor.Digest).ToHashSet();
        var found = await IndexRegistry.FindAsync(client, "zidx/tag", manifest.Digest, layers, Ct);
        Assert.Equal(layers, found.Select(i => i.Header.BlobDigest).ToHashSet());
        Assert.Equal(indexes[0].ToBytes(), found.Single(i => i.Header.BlobDigest == indexes[0].Header.BlobDigest).ToBytes());
        // Another image's digest finds nothing.
        Assert.Empty(await IndexRegistry.FindAsync(client, "zidx/tag", Digest.Sha256("other"u8), layers, Ct));
    }

    [Fact]
    public async Task WithReferrersApiTheArtifactIsFoundThroughIt()
    {
        var registry = fx.Plain;
        string repo = "zidx/referrers";
        string? artifact = null;
        long artifactSize = 0;
        Descriptor? manifest = null;
        InterceptingHandler? handler = null;
        var options = new RegistryClientOptions
        {
            UseAuthFiles = false,
            WrapHandler = inner => handler = new InterceptingHandler(inner, (req, _) =>
            {
                if (manifest == null || artifact == null) return null;
                var path = req.RequestUri!.AbsolutePath;
                if (path == $"/v2/{repo}/referrers/{manifest.Digest}")
                {
                    var index = new ImageIndex
                    {
                        MediaType = MediaTypes.OciIndex,
                        Manifests = [new Descriptor(MediaTypes.OciManifest, artifact, artifactSize) { ArtifactType = IndexRegistry.ArtifactType }],
                    };
                    var resp = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(index.ToJson()) };
                    resp.Content.Headers.ContentType = new MediaTypeHeaderValue(MediaTypes.OciIndex);
                    return resp;
                }
                // The registry keeps no tag: only the referrers API leads to the artifact.
                if (path.EndsWith("/manifests/" + IndexRegistry.FallbackTag(manifest.Digest))) return new HttpResponseMessage(HttpStatusCode.NotFound);
                return null;
            }),
        };
        using var client = new RegistryClient(registry.Host, options);
        var (img, indexes, m) = await PushImage(client, repo);
        artifact = await IndexRegistry.PushAsync(client, repo, m, indexes, Ct);
        artifactSize = (await client.GetManifestAsync(repo, artifact, Ct)).Bytes.Length;
        manifest = m;

        var found = await IndexRegistry.FindAsync(client, repo, m.Digest, img.Layers.Select(l => l.Descriptor.Digest).ToHashSet(), Ct);
        Assert.Equal(indexes.Count, found.Count);
        Assert.Contains(handler!.Seen, s => s.Uri.AbsolutePath.Contains("/referrers/"));
        Assert.Contains(handler.Seen, s => s.Uri.AbsolutePath.EndsWith("/manifests/" + artifact));
    }
}
