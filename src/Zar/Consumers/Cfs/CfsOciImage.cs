using Zar.Blobs;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Registry;

namespace Zar.Consumers.Cfs;

/// <summary>
/// The CFS image as an OCI image: one uncompressed layer (<c>application/vnd.oci.image.layer.v1.tar</c>) per
/// zar image, each a tar holding just that file at the root (0644, 0:0, mtime = the source's created time),
/// and the source's runtime config with new diff_ids and one history entry per layer. The same generator
/// output always gives the same digests.
/// </summary>
public sealed class CfsOciImage
{
    public const string RefNameAnnotation = Descriptor.RefNameAnnotation;

    public required CfsResult Result { get; init; }
    public required byte[] Config { get; init; }
    public required byte[] Manifest { get; init; }
    public string ConfigDigest => Digest.Sha256(Config);
    public string ManifestDigest => Digest.Sha256(Manifest);
    public IReadOnlyList<Descriptor> LayerDescriptors { get; init; } = [];
    public Descriptor ConfigDescriptor => new(MediaTypes.OciConfig, ConfigDigest, Config.Length);
    public Descriptor ManifestDescriptor => new(MediaTypes.OciManifest, ManifestDigest, Manifest.Length);

    public static CfsOciImage Build(CfsResult result)
    {
        var src = result.SourceConfig;
        // Only content-derived text: the same image read from another place must give the same digests.
        var history = result.Layers.Select(l => new HistoryEntry(src.Created, $"ADD {l.FileName} / # zar cfs",
            l.DiffId != null ? $"source layer {l.Index + 1}, diff_id {l.DiffId}" : $"source layer {l.Index + 1}")).ToList();
        var config = src.WithLayers(result.Layers.Select(l => l.TarDigest).ToList(), history);
        var layers = result.Layers.Select(l => new Descriptor(MediaTypes.OciLayer, l.TarDigest, l.TarSize)).ToList();
        var manifest = new ImageManifest
        {
            MediaType = MediaTypes.OciManifest,
            Config = new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length),
            Layers = layers,
        };
        return new CfsOciImage
        {
            Result = result,
            Config = config,
            Manifest = manifest.ToJson(),
            LayerDescriptors = layers,
        };
    }

    Stream OpenLayer(int i)
    {
        var l = Result.Layers[i];
        return SingleFileTar.Open(l.Path, l.FileName, Result.TarMtime);
    }

    /// <summary>
    /// Writes (or adds to) an OCI image layout: blobs, <c>oci-layout</c>, and an <c>index.json</c> entry tagged
    /// <paramref name="tag"/> (an earlier entry with the same tag is replaced, others are kept). Returns the manifest digest.
    /// </summary>
    public string WriteOciLayout(string layoutDir, string tag = "latest")
    {
        if (string.IsNullOrEmpty(tag)) tag = "latest";
        var layout = OciLayoutWriter.Create(layoutDir);
        for (int i = 0; i < Result.Layers.Count; i++)
        {
            var d = LayerDescriptors[i];
            if (layout.Store.TryGetVerified(d.Digest, d.Size, out _)) continue;
            using var tar = OpenLayer(i);
            layout.Store.Put(d.Digest, d.Size, tar);
        }
        layout.Store.Put(MediaTypes.OciConfig, Config);
        layout.Store.Put(MediaTypes.OciManifest, Manifest);
        layout.Tag(ManifestDescriptor, tag);
        return ManifestDigest;
    }

    /// <summary>Pushes layers, config and manifest (blobs the registry has are skipped). Returns the manifest digest.</summary>
    public async Task<string> PushAsync(RegistryReference target, RegistryClientOptions? options = null, IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        using var client = RegistryClient.For(target, options);
        var blobs = Result.Layers.Select((l, i) => new PushBlob(LayerDescriptors[i], () => OpenLayer(i)))
            .Append(new PushBlob(ConfigDescriptor, () => new MemoryStream(Config, writable: false)));
        return await client.PushImageAsync(target, Manifest, MediaTypes.OciManifest, blobs, progress: progress, ct: ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The CLI's <c>--output</c>: <c>oci:DIR[:TAG]</c> writes an OCI layout, <c>docker://HOST/REPO:TAG</c> pushes.
    /// Returns the manifest digest.
    /// </summary>
    public async Task<string> WriteOutputAsync(string output, RegistryClientOptions? registryOptions = null, CancellationToken ct = default)
    {
        if (output.StartsWith("oci:", StringComparison.Ordinal))
        {
            var rest = output[4..];
            int colon = rest.IndexOf(':');
            var dir = colon < 0 ? rest : rest[..colon];
            var tag = colon < 0 ? "latest" : rest[(colon + 1)..];
            if (dir.Length == 0) throw new ZarException($"{output}: missing directory");
            return WriteOciLayout(dir, tag);
        }
        if (output.StartsWith("docker://", StringComparison.Ordinal))
            return await PushAsync(RegistryReference.Parse(output), registryOptions, null, ct).ConfigureAwait(false);
        throw new ZarException($"{output}: unknown output (expected oci:DIR[:TAG] or docker://HOST/REPO:TAG)");
    }
}
