using System.Net;
using System.Net.Http.Headers;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// GET a manifest or index by tag or digest. The bytes are checked against the digest asked for and against
    /// Docker-Content-Digest when the registry sends it; schema 1 is refused.
    /// </summary>
    public Task<ManifestDocument> GetManifestAsync(string repository, string tagOrDigest, CancellationToken ct = default)
    {
        string what = $"docker://{Host}/{repository}{(tagOrDigest.Contains(':') ? "@" : ":")}{tagOrDigest}";
        bool byDigest = tagOrDigest.Contains(':');
        if (byDigest) Digest.Validate(tagOrDigest, what);
        var spec = new RequestSpec(HttpMethod.Get, ApiUri($"v2/{repository}/manifests/{tagOrDigest}"), PullScope(repository), what)
        {
            Configure = req => req.Headers.Accept.ParseAdd(MediaTypes.ManifestAccept),
        };
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode != HttpStatusCode.OK) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            long max = _options.MaxManifestSize;
            if (resp.Content.Headers.ContentLength > max)
                throw new ZarFormatException($"{what}: manifest of {resp.Content.Headers.ContentLength} bytes exceeds the {max}-byte limit");
            var bytes = await RegistryErrors.ReadUpToAsync(resp.Content, (int)max + 1, ct).ConfigureAwait(false);
            if (bytes.Length > max) throw new ZarFormatException($"{what}: manifest exceeds the {max}-byte limit");
            if (resp.Content.Headers.ContentLength is long cl && cl != bytes.Length)
                throw new IOException($"manifest body ended after {bytes.Length} of {cl} bytes");

            string digest = Digest.Sha256(bytes);
            if (byDigest && !Digest.Matches(tagOrDigest, bytes))
                throw new ZarFormatException($"{what}: manifest bytes do not match the digest asked for (got {Digest.ComputeLike(tagOrDigest, bytes)})");
            if (byDigest) digest = tagOrDigest;
            if (resp.Headers.TryGetValues("Docker-Content-Digest", out var dcds) && dcds.FirstOrDefault() is { Length: > 0 } dcd)
            {
                if (!Digest.IsValid(dcd))
                    throw new ZarFormatException($"{what}: registry sent an invalid Docker-Content-Digest '{dcd}'");
                if (!Digest.Matches(dcd, bytes))
                    throw new ZarFormatException($"{what}: manifest bytes do not match the registry's Docker-Content-Digest {dcd}");
            }
            var document = ManifestDocument.Read(bytes, resp.Content.Headers.ContentType?.MediaType, digest, what);
            if (!document.IsIndex && !MediaTypes.IsManifest(document.MediaType))
                throw new ZarNotSupportedException($"{what}: unsupported manifest media type {document.MediaType}");
            return document;
        }, ct);
    }

    /// <summary>HEAD a manifest: its digest and size, or null when the registry does not have it.</summary>
    public Task<Descriptor?> HeadManifestAsync(string repository, string tagOrDigest, CancellationToken ct = default)
    {
        string what = $"docker://{Host}/{repository}:{tagOrDigest}";
        var spec = new RequestSpec(HttpMethod.Head, ApiUri($"v2/{repository}/manifests/{tagOrDigest}"), PullScope(repository), what)
        {
            Configure = req => req.Headers.Accept.ParseAdd(MediaTypes.ManifestAccept),
        };
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode == HttpStatusCode.NotFound) return null;
            if (resp.StatusCode != HttpStatusCode.OK) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            string? digest = resp.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.FirstOrDefault() : null;
            if (digest is null && tagOrDigest.Contains(':')) digest = tagOrDigest;
            return (Descriptor?)new Descriptor(MediaTypes.Bare(resp.Content.Headers.ContentType?.MediaType) ?? "", digest ?? "",
                resp.Content.Headers.ContentLength ?? -1);
        }, ct);
    }

    /// <summary>
    /// From a reference to one runnable image: indexes (nested too) are resolved for <paramref name="platform"/>
    /// (default: this host), attestation manifests skipped, entries without a platform confirmed by their config.
    /// </summary>
    public async Task<ResolvedImage> ResolveImageAsync(RegistryReference reference, Platform? platform = null, CancellationToken ct = default)
    {
        var want = (platform ?? Platform.Host).Normalize();
        var top = await GetManifestAsync(reference.Repository, reference.Reference, ct).ConfigureAwait(false);
        var found = await ResolveAsync(reference, top, want, new List<string>(), new List<string>(), depth: 0, requireMatch: false, ct).ConfigureAwait(false);
        return found ?? throw new ZarNotFoundException($"{reference}: no image for platform {want}");
    }

    async Task<ResolvedImage?> ResolveAsync(RegistryReference reference, ManifestDocument m, Platform want, List<string> indexes,
        List<string> seenPlatforms, int depth, bool requireMatch, CancellationToken ct)
    {
        string what = $"{reference} ({m.Digest})";
        if (depth > 4) throw new ZarFormatException($"{what}: indexes nested too deeply");
        if (!m.IsIndex)
        {
            var parsed = m.AsManifest(what);
            if (parsed.Config is null) throw new ZarFormatException($"{what}: manifest has no config descriptor");
            if (!MediaTypes.IsImageConfig(parsed.Config.MediaType))
                throw new ZarNotSupportedException($"{what}: an artifact (config {parsed.Config.MediaType}), not a runnable image");
            var configBytes = await GetBlobBytesAsync(reference.Repository, parsed.Config.Digest, parsed.Config.Size, 16 << 20, ct).ConfigureAwait(false);
            var config = ImageConfig.Parse(configBytes, $"{what} config {parsed.Config.Digest}");
            if (requireMatch && (config.Platform is not { } cp || !want.Accepts(cp)))
            {
                seenPlatforms.Add(config.Platform?.ToString() ?? "(no platform)");
                return null;
            }
            return new ResolvedImage
            {
                Reference = reference, Manifest = m, Parsed = parsed, Config = config, IndexDigests = indexes.ToList(),
            };
        }
        var index = m.AsIndex(what);
        var entries = index.Images;
        var order = want.RankEntries(entries, d => d.Platform, d => d.Annotations);
        foreach (var d in entries)
            if (d.Platform is { } p && !Platform.IsAttestation(p, d.Annotations)) seenPlatforms.Add(p.Normalize().ToString());
        indexes.Add(m.Digest);
        foreach (var i in order)
        {
            var d = entries[i];
            var child = await GetManifestAsync(reference.Repository, d.Digest, ct).ConfigureAwait(false);
            if (child.Bytes.Length != d.Size && d.Size > 0)
                throw new ZarFormatException($"{what}: entry {d.Digest} is {child.Bytes.Length} bytes, the index says {d.Size}");
            bool confirm = d.Platform is null;
            var r = await ResolveAsync(reference, child, want, indexes, seenPlatforms, depth + 1, requireMatch: confirm, ct).ConfigureAwait(false);
            if (r != null) return r;
        }
        indexes.RemoveAt(indexes.Count - 1);
        if (depth > 0) return null;
        var available = seenPlatforms.Distinct().ToList();
        throw new ZarNotFoundException($"{reference}: no image for platform {want}; available: "
            + (available.Count == 0 ? "none" : string.Join(", ", available)) + " (choose one with --platform os/arch[/variant])");
    }

    /// <summary>Pushes manifest bytes as they are (never re-serialized); returns their digest.</summary>
    public Task<string> PutManifestAsync(string repository, string tagOrDigest, byte[] bytes, string mediaType, CancellationToken ct = default)
    {
        string digest = Digest.Sha256(bytes);
        string what = $"push docker://{Host}/{repository}:{tagOrDigest}";
        var spec = new RequestSpec(HttpMethod.Put, ApiUri($"v2/{repository}/manifests/{tagOrDigest}"), PushScope(repository), what)
        {
            Content = () =>
            {
                var c = new ByteArrayContent(bytes);
                c.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
                return c;
            },
        };
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
                throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            if (resp.Headers.TryGetValues("Docker-Content-Digest", out var d) && d.FirstOrDefault() is { Length: > 0 } got && got != digest)
                throw new ZarFormatException($"{what}: registry stored digest {got}, expected {digest}");
            return digest;
        }, ct);
    }

    /// <summary>All tags, sorted (some registries return them unsorted); follows `Link: rel="next"` pages.</summary>
    public async Task<IReadOnlyList<string>> ListTagsAsync(string repository, CancellationToken ct = default)
    {
        var tags = new List<string>();
        Uri? next = ApiUri($"v2/{repository}/tags/list");
        for (int page = 0; next != null && page < 10_000; page++)
        {
            var uri = next;
            string what = $"docker://{Host}/{repository}: tags";
            next = await ExecuteAsync(new RequestSpec(HttpMethod.Get, uri, PullScope(repository), what), async resp =>
            {
                if (resp.StatusCode != HttpStatusCode.OK) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
                var body = await RegistryErrors.ReadUpToAsync(resp.Content, 64 << 20, ct).ConfigureAwait(false);
                tags.AddRange(ReadTagList(body, what));
                return NextLink(resp, uri);
            }, ct).ConfigureAwait(false);
        }
        tags.Sort(StringComparer.Ordinal);
        return tags.Distinct().ToList();
    }

    /// <summary>The tags of a distribution-spec tag list (<c>{"name": ..., "tags": [...]}</c>).</summary>
    static List<string> ReadTagList(byte[] body, string what)
    {
        using var doc = OciJson.Parse(body, what);
        return OciJson.StringList(OciJson.RequireObject(doc.RootElement, what, "tag list"), "tags", what) ?? [];
    }

    static Uri? NextLink(HttpResponseMessage resp, Uri current)
    {
        if (!resp.Headers.TryGetValues("Link", out var links)) return null;
        foreach (var link in links)
        {
            int lt = link.IndexOf('<'), gt = link.IndexOf('>');
            if (lt < 0 || gt < lt || !link.Contains("rel=\"next\"", StringComparison.OrdinalIgnoreCase)) continue;
            return new Uri(current, link[(lt + 1)..gt]);
        }
        return null;
    }
}
