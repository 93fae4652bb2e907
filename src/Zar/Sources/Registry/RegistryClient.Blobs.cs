using System.Net;
using System.Net.Http.Headers;
using Zar.Blobs;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    RequestSpec BlobGet(string repository, string digest, string what, Action<HttpRequestMessage>? configure = null) =>
        new(HttpMethod.Get, ApiUri($"v2/{repository}/blobs/{digest}"), PullScope(repository), what) { Configure = configure };

    static string BlobWhat(string host, string repository, string digest) => $"docker://{host}/{repository}@{digest}";

    /// <summary>HEAD a blob: its size, or null when the registry does not have it.</summary>
    public Task<long?> HeadBlobAsync(string repository, string digest, CancellationToken ct = default)
    {
        string what = BlobWhat(Host, repository, digest);
        Digest.Validate(digest, what);
        var spec = new RequestSpec(HttpMethod.Head, ApiUri($"v2/{repository}/blobs/{digest}"), PullScope(repository), what);
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode == HttpStatusCode.NotFound) return null;
            if (resp.StatusCode != HttpStatusCode.OK) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            return (long?)(resp.Content.Headers.ContentLength ?? -1);
        }, ct);
    }

    public async Task<bool> BlobExistsAsync(string repository, string digest, CancellationToken ct = default) =>
        await HeadBlobAsync(repository, digest, ct).ConfigureAwait(false) != null;

    /// <summary>
    /// Streams a blob. Its bytes are hashed as they pass and checked at the end of the stream (a mismatch throws
    /// <see cref="ZarFormatException"/> from the final read); a connection broken mid-body resumes with Range.
    /// </summary>
    public async Task<DigestVerifyingStream> OpenBlobAsync(string repository, string digest, long? size = null, CancellationToken ct = default)
    {
        string what = BlobWhat(Host, repository, digest);
        Digest.Validate(digest, what);
        Digest.CreateHasher(digest).Dispose(); // refuse unverifiable algorithms before any transfer
        var retry = new RetryState(_options);
        var spec = BlobGet(repository, digest, what);
        var resp = await SendAsync(spec, retry, ct).ConfigureAwait(false);
        if (resp.StatusCode != HttpStatusCode.OK)
        {
            using (resp) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
        }
        long? total = size is >= 0 ? size : resp.Content.Headers.ContentLength;
        if (size is >= 0 && resp.Content.Headers.ContentLength is long cl && cl != size)
        {
            resp.Dispose();
            throw new ZarFormatException($"{what}: registry says the blob is {cl} bytes, the manifest says {size}");
        }
        var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var resumable = new ResumableBlobStream(this, spec, resp, body, total, retry);
        return new DigestVerifyingStream(resumable, digest, size is >= 0 ? size : null, what);
    }

    /// <summary>A whole small blob (a config) in memory, verified.</summary>
    public async Task<byte[]> GetBlobBytesAsync(string repository, string digest, long size, long maxSize, CancellationToken ct = default)
    {
        string what = BlobWhat(Host, repository, digest);
        if (size > maxSize) throw new ZarFormatException($"{what}: {size} bytes is more than the {maxSize} allowed here");
        await using var s = await OpenBlobAsync(repository, digest, size >= 0 ? size : null, ct).ConfigureAwait(false);
        var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = await s.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
        {
            ms.Write(buf, 0, n);
            if (ms.Length > maxSize) throw new ZarFormatException($"{what}: more than the {maxSize} bytes allowed here");
        }
        return ms.ToArray();
    }

    /// <summary>
    /// Bytes [offset, offset+length) of a blob via an HTTP Range request (fewer at the end of the blob). A registry
    /// that ignores Range and sends the whole body is handled by skipping. Ranged bytes cannot be digest-checked.
    /// </summary>
    public Task<byte[]> ReadBlobRangeAsync(string repository, string digest, long offset, int length, CancellationToken ct = default)
    {
        string what = BlobWhat(Host, repository, digest) + $" [{offset}+{length}]";
        Digest.Validate(digest, what);
        if (offset < 0 || length < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (length == 0) return Task.FromResult(Array.Empty<byte>());
        var spec = BlobGet(repository, digest, what, req => req.Headers.Range = new RangeHeaderValue(offset, offset + length - 1));
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
                throw new ZarFormatException($"{what}: range lies beyond the end of the blob");
            if (resp.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.PartialContent))
                throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            int want = length;
            if (resp.StatusCode == HttpStatusCode.PartialContent)
            {
                var cr = resp.Content.Headers.ContentRange;
                if (cr is null || cr.Unit != "bytes" || cr.From != offset || cr.To is not long to || to < offset || to > offset + length - 1
                    || (cr.Length is long total && to >= total))
                    throw new ZarFormatException($"{what}: registry answered with Content-Range '{cr}' for bytes {offset}-{offset + length - 1}");
                want = (int)(to - offset + 1);
                if (cr.Length is long tl && to != tl - 1 && to != offset + length - 1)
                    throw new ZarFormatException($"{what}: registry returned a short range '{cr}'");
            }
            else
            {
                await SkipAsync(body, offset, what, ct).ConfigureAwait(false);
            }
            var result = new byte[want];
            int got = await ReadFullyAsync(body, result, ct).ConfigureAwait(false);
            if (resp.StatusCode == HttpStatusCode.PartialContent && got != want)
                throw new IOException($"range body ended after {got} of {want} bytes");
            return got == want ? result : result[..got];
        }, ct);
    }

    internal static async Task SkipAsync(Stream s, long count, string what, CancellationToken ct)
    {
        var buf = new byte[81920];
        while (count > 0)
        {
            int n = await s.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, count)), ct).ConfigureAwait(false);
            if (n == 0) throw new ZarFormatException($"{what}: blob ends before offset");
            count -= n;
        }
    }

    static async Task<int> ReadFullyAsync(Stream s, Memory<byte> buffer, CancellationToken ct)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await s.ReadAsync(buffer[total..], ct).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>
    /// The blob as a verified file in <paramref name="cache"/>, downloading it when the cache has no intact copy
    /// (a corrupt entry is deleted and fetched again).
    /// </summary>
    public async Task<string> EnsureBlobAsync(string repository, Descriptor blob, DirectoryBlobStore cache, IProgress<BlobProgress>? progress = null,
        CancellationToken ct = default)
    {
        long? size = blob.Size >= 0 ? blob.Size : null;
        if (cache.TryGetVerified(blob.Digest, size, out var path))
        {
            progress?.Report(new BlobProgress(blob.Digest, blob.Size, size, Completed: true, FromCache: true));
            return path;
        }
        await using var source = await OpenBlobAsync(repository, blob.Digest, size, ct).ConfigureAwait(false);
        var stored = await cache.PutAsync(blob.Digest, size, source,
            done => progress?.Report(new BlobProgress(blob.Digest, done, size, Completed: false, FromCache: false)), ct).ConfigureAwait(false);
        progress?.Report(new BlobProgress(blob.Digest, blob.Size, size, Completed: true, FromCache: false));
        return stored;
    }

    /// <summary>Downloads blobs (layers) into the cache, up to <paramref name="maxParallel"/> at a time; returns digest → file.</summary>
    public async Task<IReadOnlyDictionary<string, string>> PullBlobsAsync(string repository, IEnumerable<Descriptor> blobs, DirectoryBlobStore cache,
        int maxParallel = 4, IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        var unique = blobs.GroupBy(b => b.Digest).Select(g => g.First()).ToList();
        var paths = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        await Parallel.ForEachAsync(unique, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct },
            async (blob, token) => paths[blob.Digest] = await EnsureBlobAsync(repository, blob, cache, progress, token).ConfigureAwait(false))
            .ConfigureAwait(false);
        return paths;
    }
}
