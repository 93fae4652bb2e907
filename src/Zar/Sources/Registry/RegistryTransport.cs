using Zar.Sources.Images;

namespace Zar.Sources.Registry;

/// <summary>
/// Makes <c>docker://HOST[:PORT]/REPO[:TAG|@DIGEST]</c> an image reference like the others: the image's
/// blobs are pulled (in parallel, digests checked) into the blob cache, which is an OCI layout, and
/// read from there.
/// </summary>
public static class RegistryTransport
{
    public static void Register(RegistryClientOptions? clientOptions = null, string? cacheRoot = null, int maxParallel = 4,
        IProgress<BlobProgress>? progress = null)
    {
        ImageSources.RegisterTransport("docker", (rest, options) =>
        {
            var reference = RegistryReference.Parse("docker://" + rest);
            using var client = RegistryClient.For(reference, clientOptions);
            var cache = new BlobCache(cacheRoot ?? BlobCache.DefaultRoot());
            var platform = options.Platform is null ? null : Platform.Parse(options.Platform);
            var pulled = client.PullImageAsync(reference, cache, platform, maxParallel, progress).GetAwaiter().GetResult();
            return ImageSources.OpenSource(new ImageReference("oci", cache.Root, pulled.RefName), options);
        });
    }
}
