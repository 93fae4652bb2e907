using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Pushes an image: blobs first (in parallel, skipping those the registry has), the manifest last, tagged with
    /// the reference's tag (or put by digest). Returns the manifest digest.
    /// </summary>
    public async Task<string> PushImageAsync(RegistryReference target, byte[] manifest, string mediaType, IEnumerable<PushBlob> blobs,
        int maxParallel = 4, IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        if (!MediaTypes.IsManifest(mediaType) && !MediaTypes.IsIndex(mediaType))
            throw new ZarNotSupportedException($"push {target}: unsupported manifest media type {mediaType}");
        var unique = blobs.GroupBy(b => b.Descriptor.Digest).Select(g => g.First()).ToList();
        await Parallel.ForEachAsync(unique, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct },
            async (blob, token) =>
            {
                bool sent = await PushBlobAsync(target.Repository, blob.Descriptor.Digest, blob.Descriptor.Size, blob.Open, token).ConfigureAwait(false);
                progress?.Report(new BlobProgress(blob.Descriptor.Digest, blob.Descriptor.Size, blob.Descriptor.Size, Completed: true, FromCache: !sent));
            }).ConfigureAwait(false);
        string digest = Digest.Sha256(manifest);
        if (target.Digest != null && target.Digest != digest)
            throw new ZarException($"push {target}: the manifest's digest is {digest}, not the one in the reference");
        return await PutManifestAsync(target.Repository, target.Tag ?? digest, manifest, mediaType, ct).ConfigureAwait(false);
    }

    /// <summary>Pushes an image pulled into a cache (registry-to-registry copy through the cache).</summary>
    public Task<string> PushImageAsync(RegistryReference target, PulledImage image, int maxParallel = 4,
        IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        var blobs = image.Image.Layers.Select((l, i) => new PushBlob(l, () => File.OpenRead(image.LayerPaths[i])))
            .Append(new PushBlob(image.Image.Parsed.Config!, () => File.OpenRead(image.ConfigPath)));
        return PushImageAsync(target, image.Image.Manifest.Bytes, image.Image.Manifest.MediaType, blobs, maxParallel, progress, ct);
    }
}
