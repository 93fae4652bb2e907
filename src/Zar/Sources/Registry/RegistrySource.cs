using Zar.Blobs;
using Zar.Oci;
using Zar.Sources.Images;
using Zar.Sources.Images.Oci;

namespace Zar.Sources.Registry;

/// <summary>
/// Opens <c>docker://HOST[:PORT]/REPO[:TAG|@DIGEST]</c> like any other image: its blobs are pulled (in parallel,
/// digests checked) into the blob cache, which is an OCI layout, and the image is read from there.
/// </summary>
public static class RegistrySource
{
    public static IImageSource Open(string reference, Platform platform, RegistryOptions? options = null)
    {
        options ??= new RegistryOptions();
        var parsed = RegistryReference.Parse(reference);
        var cache = DirectoryBlobStore.Create(options.CacheDirectory ?? DirectoryBlobStore.DefaultCacheRoot());
        PulledImage pulled;
        using (var client = RegistryClient.For(parsed, options.Client))
            pulled = client.PullImageAsync(parsed, cache, platform, options.MaxParallel, options.Progress).GetAwaiter().GetResult();
        return OciLayoutSource.Open(cache, pulled.RefName, platform, $"oci:{cache.Root}");
    }
}
