using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Registry;

namespace Zar.Sources.Lazy;

/// <summary>
/// Layer indexes kept in the image's own repository as one OCI artifact (seekable-gzip.md §10.2): an image manifest
/// with <c>artifactType</c> <see cref="ArtifactType"/>, the empty config, one layer per index (annotated with the
/// layer digest it indexes) and <c>subject</c> = the image manifest. Found through the referrers API where the
/// registry has it, else through the tag <c>sha256-HEX.zidx</c> (pushed always, since a registry without the API
/// keeps nothing that points from the image to the artifact).
/// </summary>
public static class IndexRegistry
{
    public const string ArtifactType = "application/vnd.zar.layer-index.v1";
    public const string BlobMediaType = "application/vnd.zar.layer-index.v1.zidx";
    public const string LayerAnnotation = "dev.zar.layer-index.layer";
    const string EmptyMediaType = "application/vnd.oci.empty.v1+json";
    const long MaxIndexSize = 512L << 20;

    /// <summary>The fallback tag for the indexes of manifest <paramref name="manifestDigest"/>.</summary>
    public static string FallbackTag(string manifestDigest) => manifestDigest.Replace(':', '-') + ".zidx";

    /// <summary>Pushes the artifact; returns its manifest digest.</summary>
    public static async Task<string> PushAsync(RegistryClient client, string repository, Descriptor imageManifest, IReadOnlyList<LayerIndex> indexes,
        CancellationToken ct = default)
    {
        var config = await client.PushBlobAsync(repository, "{}"u8.ToArray(), EmptyMediaType, ct).ConfigureAwait(false);
        var layers = new List<Descriptor>();
        foreach (var index in indexes)
        {
            var blob = await client.PushBlobAsync(repository, index.ToBytes(), BlobMediaType, ct).ConfigureAwait(false);
            layers.Add(blob with { Annotations = new Dictionary<string, string> { [LayerAnnotation] = index.Header.BlobDigest } });
        }
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            ArtifactType = ArtifactType,
            Config = config,
            Layers = layers,
            Subject = new Descriptor(imageManifest.MediaType, imageManifest.Digest, imageManifest.Size),
        };
        return await client.PutManifestAsync(repository, FallbackTag(imageManifest.Digest), manifest.ToJson(), MediaTypes.OciManifest, ct).ConfigureAwait(false);
    }

    /// <summary>The indexes pushed for <paramref name="manifestDigest"/> that cover any of <paramref name="layerDigests"/>; none when nothing was pushed.</summary>
    public static IReadOnlyList<LayerIndex> Find(RegistryClient client, string repository, string manifestDigest, IReadOnlySet<string> layerDigests) =>
        FindAsync(client, repository, manifestDigest, layerDigests).GetAwaiter().GetResult();

    public static async Task<IReadOnlyList<LayerIndex>> FindAsync(RegistryClient client, string repository, string manifestDigest, IReadOnlySet<string> layerDigests,
        CancellationToken ct = default)
    {
        var artifacts = new List<string>();
        var referrers = await client.GetReferrersAsync(repository, manifestDigest, ArtifactType, ct).ConfigureAwait(false);
        if (referrers != null) artifacts.AddRange(referrers.Manifests.Select(m => m.Digest));
        if (artifacts.Count == 0) artifacts.Add(FallbackTag(manifestDigest));
        var found = new List<LayerIndex>();
        foreach (var reference in artifacts)
        {
            ManifestDocument document;
            try { document = await client.GetManifestAsync(repository, reference, ct).ConfigureAwait(false); }
            catch (RegistryNotFoundException) { continue; }
            if (document.IsIndex) continue;
            var manifest = document.AsManifest($"docker://{client.Host}/{repository}@{document.Digest}");
            if (manifest.ArtifactType != ArtifactType || manifest.Subject?.Digest != manifestDigest) continue;
            foreach (var layer in manifest.Layers)
            {
                if (layer.Annotation(LayerAnnotation) is not { } target || !layerDigests.Contains(target)) continue;
                var what = $"docker://{client.Host}/{repository}@{layer.Digest} (index of {target})";
                var bytes = await client.GetBlobBytesAsync(repository, layer.Digest, layer.Size, MaxIndexSize, ct).ConfigureAwait(false);
                var index = LayerIndex.Read(bytes, what);
                if (index.Header.BlobDigest != target) throw new ZarFormatException($"{what}: indexes {index.Header.BlobDigest}, not {target}");
                found.Add(index);
            }
        }
        return found;
    }
}
