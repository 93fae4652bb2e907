using System.Net;
using System.Net.Http.Headers;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    /// <summary>Cross-repository mount (no bytes sent); false when the registry started an upload instead.</summary>
    public Task<bool> MountBlobAsync(string repository, string digest, string fromRepository, CancellationToken ct = default)
    {
        string what = $"mount {BlobWhat(Host, fromRepository, digest)} into {repository}";
        Digest.Validate(digest, what);
        var spec = new RequestSpec(HttpMethod.Post,
            ApiUri($"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(fromRepository)}"),
            $"{PushScope(repository)} {PullScope(fromRepository)}", what)
        {
            Content = () => new ByteArrayContent([]),
            Retryable = false,
        };
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode == HttpStatusCode.Created) return true;
            if (resp.StatusCode != HttpStatusCode.Accepted) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            // An upload session we do not want: cancel it (best effort).
            try
            {
                var cancel = new RequestSpec(HttpMethod.Delete, UploadLocation(resp, what), PushScope(repository), what) { Retryable = false };
                await ExecuteAsync(cancel, _ => Task.FromResult(true), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ZarException or HttpRequestException or IOException) { }
            return false;
        }, ct);
    }

    /// <summary>Uploads a blob unless the registry already has it; true when bytes were sent.</summary>
    public async Task<bool> PushBlobAsync(string repository, string digest, long size, Func<Stream> open, CancellationToken ct = default)
    {
        string what = $"push {BlobWhat(Host, repository, digest)}";
        Digest.Validate(digest, what);
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
        var digest = Digest.Sha256(data);
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
