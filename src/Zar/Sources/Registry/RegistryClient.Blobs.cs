using System.Net;
using System.Net.Http.Headers;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>Progress of one blob transfer.</summary>
public readonly record struct BlobProgress(string Digest, long BytesDone, long? Total, bool Completed, bool FromCache);

public sealed partial class RegistryClient
{
    RequestSpec BlobGet(string repository, string digest, string what, Action<HttpRequestMessage>? configure = null) =>
        new(HttpMethod.Get, ApiUri($"v2/{repository}/blobs/{digest}"), PullScope(repository), what) { Configure = configure };

    static string BlobWhat(string host, string repository, string digest) => $"docker://{host}/{repository}@{digest}";

    /// <summary>HEAD a blob: its size, or null when the registry does not have it.</summary>
    public Task<long?> HeadBlobAsync(string repository, string digest, CancellationToken ct = default)
    {
        string what = BlobWhat(Host, repository, digest);
        Zar.Sources.Registry.Digest.Validate(digest, what);
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
        Zar.Sources.Registry.Digest.Validate(digest, what);
        Zar.Sources.Registry.Digest.CreateHasher(digest).Dispose(); // refuse unverifiable algorithms before any transfer
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
        Zar.Sources.Registry.Digest.Validate(digest, what);
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
    public async Task<string> EnsureBlobAsync(string repository, Descriptor blob, BlobCache cache, IProgress<BlobProgress>? progress = null,
        CancellationToken ct = default)
    {
        long? size = blob.Size >= 0 ? blob.Size : null;
        if (cache.TryGetVerified(blob.Digest, size, out var path))
        {
            progress?.Report(new BlobProgress(blob.Digest, blob.Size, size, Completed: true, FromCache: true));
            return path;
        }
        await using var source = await OpenBlobAsync(repository, blob.Digest, size, ct).ConfigureAwait(false);
        var stored = await cache.AddAsync(blob.Digest, size, source,
            done => progress?.Report(new BlobProgress(blob.Digest, done, size, Completed: false, FromCache: false)), ct).ConfigureAwait(false);
        progress?.Report(new BlobProgress(blob.Digest, blob.Size, size, Completed: true, FromCache: false));
        return stored;
    }

    /// <summary>Downloads blobs (layers) into the cache, up to <paramref name="maxParallel"/> at a time; returns digest → file.</summary>
    public async Task<IReadOnlyDictionary<string, string>> PullBlobsAsync(string repository, IEnumerable<Descriptor> blobs, BlobCache cache,
        int maxParallel = 4, IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        var unique = blobs.GroupBy(b => b.Digest).Select(g => g.First()).ToList();
        var paths = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
        await Parallel.ForEachAsync(unique, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct },
            async (blob, token) => paths[blob.Digest] = await EnsureBlobAsync(repository, blob, cache, progress, token).ConfigureAwait(false))
            .ConfigureAwait(false);
        return paths;
    }

    // ---------------------------------------------------------------- push

    /// <summary>Uploads a blob unless the registry already has it; true when bytes were sent.</summary>
    public async Task<bool> PushBlobAsync(string repository, string digest, long size, Func<Stream> open, CancellationToken ct = default)
    {
        string what = $"push {BlobWhat(Host, repository, digest)}";
        Zar.Sources.Registry.Digest.Validate(digest, what);
        if (await HeadBlobAsync(repository, digest, ct).ConfigureAwait(false) is long have)
        {
            if (have >= 0 && have != size) throw new ZarFormatException($"{what}: registry has it with {have} bytes, expected {size}");
            return false;
        }
        // A failed upload session cannot be trusted to resume, so the whole POST..PUT sequence is the retry unit.
        var retry = new RetryState(_options);
        while (true)
        {
            try
            {
                await UploadOnceAsync(repository, digest, size, open, what, ct).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (IsTransient(e, ct) || e is RegistryException { Status: >= HttpStatusCode.InternalServerError })
            {
                await retry.WaitOrThrowAsync(what, e is RegistryException ? e.Message : Describe(e), null, e, ct).ConfigureAwait(false);
            }
        }
    }

    public async Task<Descriptor> PushBlobAsync(string repository, byte[] data, string mediaType, CancellationToken ct = default)
    {
        var digest = Zar.Sources.Registry.Digest.Sha256(data);
        await PushBlobAsync(repository, digest, data.Length, () => new MemoryStream(data, writable: false), ct).ConfigureAwait(false);
        return new Descriptor(mediaType, digest, data.Length);
    }

    async Task UploadOnceAsync(string repository, string digest, long size, Func<Stream> open, string what, CancellationToken ct)
    {
        string scope = PushScope(repository);
        var post = new RequestSpec(HttpMethod.Post, ApiUri($"v2/{repository}/blobs/uploads/"), scope, what)
        {
            Content = () => new ByteArrayContent([]),
            Retryable = false,
        };
        Uri location = await ExecuteAsync(post, async resp =>
        {
            if (resp.StatusCode != HttpStatusCode.Accepted) throw await ErrorAsync(resp, what + " (start upload)", ct).ConfigureAwait(false);
            return UploadLocation(resp, what);
        }, ct).ConfigureAwait(false);

        int? chunk = _options.UploadChunkSize;
        if (chunk is int cs && cs > 0 && size > cs)
        {
            await using var source = open();
            var buf = new byte[cs];
            long sent = 0;
            while (sent < size)
            {
                int n = await ReadFullyAsync(source, buf.AsMemory(0, (int)Math.Min(cs, size - sent)), ct).ConfigureAwait(false);
                if (n == 0) throw new ZarException($"{what}: source ended after {sent} of {size} bytes");
                long start = sent;
                var data = buf.AsMemory(0, n).ToArray();
                var patch = new RequestSpec(HttpMethod.Patch, location, scope, what)
                {
                    Retryable = false,
                    Content = () =>
                    {
                        var c = new ByteArrayContent(data);
                        c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                        c.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + n - 1}");
                        return c;
                    },
                };
                location = await ExecuteAsync(patch, async resp =>
                {
                    if (resp.StatusCode != HttpStatusCode.Accepted) throw await ErrorAsync(resp, what + " (chunk)", ct).ConfigureAwait(false);
                    return UploadLocation(resp, what);
                }, ct).ConfigureAwait(false);
                sent += n;
            }
            await PutUploadAsync(location, scope, digest, null, 0, what, ct).ConfigureAwait(false);
        }
        else
        {
            await PutUploadAsync(location, scope, digest, open, size, what, ct).ConfigureAwait(false);
        }
    }

    async Task PutUploadAsync(Uri location, string scope, string digest, Func<Stream>? open, long size, string what, CancellationToken ct)
    {
        // The Location may carry opaque state (`_state=`): keep it verbatim and add the digest.
        var b = new UriBuilder(location);
        string q = b.Query.Length > 1 ? b.Query[1..] + "&" : "";
        b.Query = q + "digest=" + Uri.EscapeDataString(digest);
        var put = new RequestSpec(HttpMethod.Put, b.Uri, scope, what)
        {
            Retryable = false,
            Content = () =>
            {
                HttpContent c = open is null ? new ByteArrayContent([]) : new StreamContent(open(), 1 << 16);
                c.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                c.Headers.ContentLength = open is null ? 0 : size;
                return c;
            },
        };
        await ExecuteAsync(put, async resp =>
        {
            if (resp.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.NoContent or HttpStatusCode.OK))
                throw await ErrorAsync(resp, what + " (finish upload)", ct).ConfigureAwait(false);
            if (resp.Headers.TryGetValues("Docker-Content-Digest", out var d) && d.FirstOrDefault() is { Length: > 0 } got && got != digest)
                throw new ZarFormatException($"{what}: registry stored digest {got}");
            return true;
        }, ct).ConfigureAwait(false);
    }

    static Uri UploadLocation(HttpResponseMessage resp, string what)
    {
        var loc = resp.Headers.Location ?? throw new ZarFormatException($"{what}: registry did not send an upload Location");
        return loc.IsAbsoluteUri ? loc : new Uri(resp.RequestMessage!.RequestUri!, loc);
    }
}

/// <summary>
/// A blob body that survives broken connections: on a transport error it asks again from the current position
/// (Range), accepting 206 at that offset or a 200 full body that it skips forward.
/// </summary>
internal sealed class ResumableBlobStream(RegistryClient client, RequestSpec spec, HttpResponseMessage response, Stream body, long? total,
    RegistryClient.RetryState retry) : Stream
{
    HttpResponseMessage _response = response;
    Stream _body = body;
    long _position;
    long _positionAtLastFailure = -1;
    public int Resumes { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        while (true)
        {
            try
            {
                int n;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    idle.CancelAfter(client.Options.BodyIdleTimeout);
                    try { n = await _body.ReadAsync(buffer, idle.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        throw new IOException($"no data for {client.Options.BodyIdleTimeout.TotalSeconds:0.#} s");
                    }
                }
                if (n == 0 && total is long t && _position < t)
                    throw new IOException($"connection closed after {_position} of {t} bytes");
                _position += n;
                return n;
            }
            catch (Exception e) when (RegistryClient.IsTransient(e, ct))
            {
                if (_position > _positionAtLastFailure) retry.Reset();
                _positionAtLastFailure = _position;
                await retry.WaitOrThrowAsync(spec.What, RegistryClient.Describe(e), null, e, ct).ConfigureAwait(false);
                await ReopenAsync(ct).ConfigureAwait(false);
            }
        }
    }

    async Task ReopenAsync(CancellationToken ct)
    {
        _body.Dispose();
        _response.Dispose();
        long from = _position;
        var again = spec with
        {
            Configure = req =>
            {
                spec.Configure?.Invoke(req);
                if (from > 0) req.Headers.Range = new RangeHeaderValue(from, null);
            },
        };
        var resp = await client.SendAsync(again, retry, ct).ConfigureAwait(false);
        try
        {
            Stream body;
            if (resp.StatusCode == HttpStatusCode.PartialContent && from > 0)
            {
                var cr = resp.Content.Headers.ContentRange;
                if (cr is null || cr.From != from || (total is long t && cr.Length is long l && l != t))
                    throw new ZarFormatException($"{spec.What}: resumed at {from} but the registry answered Content-Range '{cr}'");
                body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            }
            else if (resp.StatusCode == HttpStatusCode.OK)
            {
                body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await RegistryClient.SkipAsync(body, from, spec.What, ct).ConfigureAwait(false);
            }
            else
            {
                throw await client.ErrorAsync(resp, spec.What, ct).ConfigureAwait(false);
            }
            Resumes++;
            _response = resp;
            _body = body;
        }
        catch
        {
            resp.Dispose();
            // Keep Dispose safe: the old stream objects are already disposed.
            throw;
        }
    }

    public override int Read(Span<byte> buffer)
    {
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(rented); }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => total ?? throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _body.Dispose(); _response.Dispose(); }
        base.Dispose(disposing);
    }
}
