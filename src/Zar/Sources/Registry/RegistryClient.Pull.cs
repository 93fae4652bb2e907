using Zar.Blobs;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Resolves <paramref name="reference"/> for a platform and brings manifest, config and layers into the cache
    /// (in parallel, verified); the cache directory is then an OCI image layout where the image is tagged with the
    /// reference (`host/repo:tag` or `host/repo@digest`), so OCI-layout readers can open it.
    /// </summary>
    public async Task<PulledImage> PullImageAsync(RegistryReference reference, DirectoryBlobStore cache, Platform? platform = null, int maxParallel = 4,
        IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        var image = await ResolveImageAsync(reference, platform, ct).ConfigureAwait(false);
        string manifestPath = await cache.PutAsync(image.Manifest.Digest, image.Manifest.Bytes.Length, new MemoryStream(image.Manifest.Bytes), null, ct)
            .ConfigureAwait(false);
        var config = image.Parsed.Config!;
        string configPath = await cache.PutAsync(config.Digest, config.Size, new MemoryStream(image.ConfigBytes), null, ct).ConfigureAwait(false);
        var paths = await PullBlobsAsync(reference.Repository, image.Layers, cache, maxParallel, progress, ct).ConfigureAwait(false);
        string refName = reference.Host + "/" + reference.Repository + (reference.Digest != null ? "@" + reference.Digest : ":" + reference.Tag);
        new OciLayoutWriter(cache).Tag(image.Manifest.Descriptor with { Platform = image.Platform }, refName);
        return new PulledImage
        {
            Image = image, ManifestPath = manifestPath, ConfigPath = configPath,
            LayerPaths = image.Layers.Select(l => paths[l.Digest]).ToList(),
            LayoutDirectory = cache.Root, RefName = refName,
        };
    }
}
