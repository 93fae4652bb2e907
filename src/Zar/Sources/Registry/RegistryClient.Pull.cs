using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Zar.IO;
using Zar.Model;
using Zar.Sources.Images;

namespace Zar.Sources.Registry;

/// <summary>An image whose manifest, config and layers are verified files in a <see cref="BlobCache"/>.</summary>
public sealed class PulledImage
{
    public required ResolvedImage Image { get; init; }
    public required string ManifestPath { get; init; }
    public required string ConfigPath { get; init; }
    /// <summary>Layer blob files, base layer first (manifest order).</summary>
    public required IReadOnlyList<string> LayerPaths { get; init; }
    /// <summary>The cache root, which is also an OCI image layout holding this image under <see cref="RefName"/>.</summary>
    public required string LayoutDirectory { get; init; }
    public required string RefName { get; init; }
}

public sealed partial class RegistryClient
{
    /// <summary>
    /// Resolves <paramref name="reference"/> for a platform and brings manifest, config and layers into the cache
    /// (in parallel, verified); the cache directory is then an OCI image layout where the image is tagged with the
    /// reference (`host/repo:tag` or `host/repo@digest`), so OCI-layout readers can open it.
    /// </summary>
    public async Task<PulledImage> PullImageAsync(RegistryReference reference, BlobCache cache, Platform? platform = null, int maxParallel = 4,
        IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        var image = await ResolveImageAsync(reference, platform, ct).ConfigureAwait(false);
        string manifestPath = await cache.AddAsync(image.Manifest.Digest, image.Manifest.Bytes.Length, new MemoryStream(image.Manifest.Bytes), null, ct)
            .ConfigureAwait(false);
        var config = image.Parsed.Config!;
        string configPath = await cache.AddAsync(config.Digest, config.Size, new MemoryStream(image.ConfigBytes), null, ct).ConfigureAwait(false);
        foreach (var layer in image.Layers)
        {
            Zar.Sources.Registry.Digest.Validate(layer.Digest, $"{reference} layer");
            if (layer.Size < 0) throw new ZarFormatException($"{reference}: layer {layer.Digest} has a negative size");
        }
        var paths = await PullBlobsAsync(reference.Repository, image.Layers, cache, maxParallel, progress, ct).ConfigureAwait(false);
        string refName = reference.Host + "/" + reference.Repository + (reference.Digest != null ? "@" + reference.Digest : ":" + reference.Tag);
        cache.SetLayoutRef(new Descriptor(image.Manifest.MediaType, image.Manifest.Digest, image.Manifest.Bytes.Length)
        {
            Platform = image.Config.ToPlatform() is { } p ? PlatformJson.From(p.Normalize()) : null,
        }, refName);
        return new PulledImage
        {
            Image = image, ManifestPath = manifestPath, ConfigPath = configPath,
            LayerPaths = image.Layers.Select(l => paths[l.Digest]).ToList(),
            LayoutDirectory = cache.Root, RefName = refName,
        };
    }

    /// <summary>Cross-repository mount (no bytes sent); false when the registry started an upload instead.</summary>
    public Task<bool> MountBlobAsync(string repository, string digest, string fromRepository, CancellationToken ct = default)
    {
        string what = $"mount {BlobWhat(Host, fromRepository, digest)} into {repository}";
        Zar.Sources.Registry.Digest.Validate(digest, what);
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
}

public sealed partial class BlobCache
{
    const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    static readonly SemaphoreSlim IndexLock = new(1, 1);

    /// <summary>
    /// Makes the cache root an OCI image layout (`oci-layout`, `index.json`) whose index names
    /// <paramref name="manifest"/> as <paramref name="refName"/>, replacing an older entry of that name.
    /// </summary>
    public void SetLayoutRef(Descriptor manifest, string refName)
    {
        IndexLock.Wait();
        try
        {
            using var fileLock = new FileStream(Path.Combine(Root, ".index.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            string layoutFile = Path.Combine(Root, "oci-layout");
            if (!File.Exists(layoutFile))
            {
                using var f = new AtomicFile(layoutFile);
                f.Stream.Write("{\"imageLayoutVersion\":\"1.0.0\"}"u8);
                f.Commit();
            }
            string indexFile = Path.Combine(Root, "index.json");
            JsonObject index;
            if (File.Exists(indexFile))
            {
                try { index = JsonNode.Parse(File.ReadAllBytes(indexFile)) as JsonObject ?? throw new JsonException("not an object"); }
                catch (JsonException e) { throw new ZarFormatException($"{indexFile}: invalid JSON ({e.Message})", e); }
            }
            else
            {
                index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = new JsonArray() };
            }
            if (index["manifests"] is not JsonArray manifests) index["manifests"] = manifests = new JsonArray();
            for (int i = manifests.Count - 1; i >= 0; i--)
                if (manifests[i]?["annotations"]?[RefNameAnnotation]?.GetValue<string>() == refName) manifests.RemoveAt(i);
            manifest.Annotations = new Dictionary<string, string>(manifest.Annotations ?? new()) { [RefNameAnnotation] = refName };
            manifests.Add(JsonSerializer.SerializeToNode(manifest, RegistryJson.Options));
            using var output = new AtomicFile(indexFile);
            using (var w = new Utf8JsonWriter(output.Stream, new JsonWriterOptions { Indented = true })) index.WriteTo(w);
            output.Commit();
        }
        finally { IndexLock.Release(); }
    }
}
