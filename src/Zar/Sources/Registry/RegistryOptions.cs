using Zar.Blobs;

namespace Zar.Sources.Registry;

/// <summary>How <c>docker://</c> images are pulled when they are opened (see <see cref="RegistrySource"/>).</summary>
public sealed record RegistryOptions
{
    /// <summary>Credentials, auth file, TLS, retries.</summary>
    public RegistryClientOptions Client { get; init; } = new();

    /// <summary>The blob cache (an OCI layout); null: <see cref="DirectoryBlobStore.DefaultCacheRoot"/>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Blobs downloaded at once.</summary>
    public int MaxParallel { get; init; } = 4;

    public IProgress<BlobProgress>? Progress { get; init; }
}
