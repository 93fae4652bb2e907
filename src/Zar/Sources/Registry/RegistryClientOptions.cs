namespace Zar.Sources.Registry;

public sealed record RegistryClientOptions
{
    /// <summary>Explicit credentials (`--creds user:pass`); when null, auth files are consulted (see <see cref="UseAuthFiles"/>).</summary>
    public RegistryCredential? Credential { get; init; }

    /// <summary>An auth file (Docker config.json / containers auth.json shape) to use instead of the default search.</summary>
    public string? AuthFile { get; init; }

    /// <summary>Whether to look in $REGISTRY_AUTH_FILE, $DOCKER_CONFIG and ~/.docker/config.json when no credential is given.</summary>
    public bool UseAuthFiles { get; init; } = true;

    /// <summary>
    /// False: talk plain HTTP to any host (and accept any certificate if a redirect leads to HTTPS).
    /// Loopback hosts use HTTP regardless.
    /// </summary>
    public bool TlsVerify { get; init; } = true;

    /// <summary>Retries of one request after 429, 5xx or a broken connection.</summary>
    public int MaxRetries { get; init; } = 6;

    /// <summary>Retrying stops once this much time has passed since the first attempt of a request.</summary>
    public TimeSpan MaxRetryTime { get; init; } = TimeSpan.FromMinutes(2);

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Time allowed until response headers arrive (bodies stream without a total limit).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>A blob body that delivers nothing for this long counts as a broken connection (and is resumed).</summary>
    public TimeSpan BodyIdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A response body slower than this many bytes/s over <see cref="StallWindow"/> has stalled (retried like a drop).</summary>
    public long MinTransferRate { get; init; } = 1024;

    public TimeSpan StallWindow { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A response body may take <see cref="RequestTimeout"/> plus its size at this many bytes/s, however it trickles.</summary>
    public long DeadlineRate { get; init; } = 16 << 10;

    public long MaxManifestSize { get; init; } = 16 << 20;

    /// <summary>Push blobs in PATCH chunks of this size; null = one PUT with the whole blob.</summary>
    public int? UploadChunkSize { get; init; }

    public string UserAgent { get; init; } = "zar/0.1";

    /// <summary>Tests wrap the transport (fault injection, request recording).</summary>
    internal Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }
}
