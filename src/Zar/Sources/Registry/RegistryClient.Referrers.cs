using System.Net;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// The referrers API (distribution-spec 1.1, <c>GET /v2/REPO/referrers/DIGEST</c>): an index of the manifests whose
    /// subject is <paramref name="digest"/>, filtered by <paramref name="artifactType"/>; null when the registry has no
    /// such API (404, as Distribution 2.8 answers), so the caller falls back to the referrers tag schema.
    /// </summary>
    public Task<ImageIndex?> GetReferrersAsync(string repository, string digest, string? artifactType = null, CancellationToken ct = default)
    {
        string what = $"docker://{Host}/{repository}: referrers of {digest}";
        Digest.Validate(digest, what);
        var query = artifactType != null ? "?artifactType=" + Uri.EscapeDataString(artifactType) : "";
        var spec = new RequestSpec(HttpMethod.Get, ApiUri($"v2/{repository}/referrers/{digest}{query}"), PullScope(repository), what)
        {
            Configure = req => req.Headers.Accept.ParseAdd(MediaTypes.OciIndex),
        };
        return ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode == HttpStatusCode.NotFound) return null;
            if (resp.StatusCode != HttpStatusCode.OK) throw await ErrorAsync(resp, what, ct).ConfigureAwait(false);
            var bytes = await RegistryErrors.ReadUpToAsync(resp.Content, (int)_options.MaxManifestSize + 1, ct).ConfigureAwait(false);
            if (bytes.Length > _options.MaxManifestSize) throw new ZarFormatException($"{what}: referrers index exceeds the {_options.MaxManifestSize}-byte limit");
            var index = ImageIndex.Parse(bytes, what);
            // Registries may ignore the filter (they then say so in OCI-Filters-Applied): filter here too.
            return artifactType == null ? index : index with { Manifests = index.Manifests.Where(m => m.ArtifactType == artifactType).ToList() };
        }, ct);
    }
}
