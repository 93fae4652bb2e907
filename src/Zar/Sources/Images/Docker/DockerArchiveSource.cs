using System.Text.Json;
using Zar.Blobs;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Images.Oci;

namespace Zar.Sources.Images.Docker;

/// <summary>
/// A <c>docker save</c> archive in any of its three layouts: legacy (<c>&lt;id&gt;/layer.tar</c>, duplicates as
/// symlinks), moby v25+ (OCI layout plus manifest.json, uncompressed blobs) and containerd's store
/// (original compressed blobs). manifest.json is authoritative when present (every layout has it unless
/// suppressed); else the archive is read as an OCI layout. Layers are members of the archive read in place;
/// their compression is sniffed, never taken from names.
/// </summary>
sealed class DockerArchiveSource : IImageSource
{
    readonly IBlobStore _store;
    public string Description { get; }
    public ImageConfig Config { get; }
    public IReadOnlyList<ImageLayer> Layers { get; }
    public string? ManifestDigest => null;

    DockerArchiveSource(IBlobStore store, string description, ImageConfig config, IReadOnlyList<ImageLayer> layers)
    {
        _store = store;
        Description = description;
        Config = config;
        Layers = layers;
    }

    /// <summary>Opens the image; the source owns <paramref name="store"/> from here (also when this throws).</summary>
    /// <param name="reference">"name:tag" as in RepoTags, "@N" for the N-th image of manifest.json, or null for the only one.</param>
    public static IImageSource Open(IBlobStore store, string? reference, Platform platform, string description)
    {
        if (!store.Exists(ManifestFile))
        {
            if (OciLayoutSource.IsLayout(store))
                return OciLayoutSource.Open(store, reference, platform, description);
            store.Dispose();
            throw new ZarFormatException($"{description}: not a docker save archive (no manifest.json or oci-layout; pre-1.10 v1 archives are not supported)");
        }
        try { return OpenIn(store, reference, description); }
        catch { store.Dispose(); throw; }
    }

    /// <summary>The legacy manifest every docker save layout has (unless suppressed).</summary>
    public const string ManifestFile = "manifest.json";

    static DockerArchiveSource OpenIn(IBlobStore store, string? reference, string description)
    {
        using var doc = OciJson.Parse(store.ReadAll(ManifestFile), $"{description}: manifest.json");
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new ZarFormatException($"{description}: manifest.json is not a JSON array");
        var items = doc.RootElement.EnumerateArray().ToList();
        if (items.Count == 0) throw new ZarNotFoundException($"{description}: manifest.json lists no image");

        int chosen;
        if (reference == null)
        {
            if (items.Count > 1) throw new ZarException($"{description}: the archive holds {items.Count} images; name one ({Names(items)}) or use @N");
            chosen = 0;
        }
        else if (reference.StartsWith('@'))
        {
            if (!int.TryParse(reference.AsSpan(1), out chosen) || chosen < 0 || chosen >= items.Count)
                throw new ZarException($"{description}: image index {reference} is out of range (0..{items.Count - 1})");
        }
        else
        {
            var want = NormalizeReference(reference);
            chosen = items.FindIndex(it => Tags(it).Any(t => NormalizeReference(t) == want));
            if (chosen < 0) throw new ZarNotFoundException($"{description}: no image tagged '{reference}' (available: {Names(items)})");
        }
        var item = items[chosen];
        var what = reference == null ? description : $"{description}:{reference}";
        if (item.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: manifest.json entry is not an object");

        var configPath = item.TryGetProperty("Config", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : throw new ZarFormatException($"{what}: manifest.json entry has no Config");
        var configBytes = store.ReadAll(store.SafePath(configPath));
        var config = ImageConfig.Parse(configBytes, $"{what}: {configPath}");
        // The legacy name is the config's own sha256; moby v25+ and containerd name it blobs/sha256/<hex>.
        var configName = ZarPath.Name(store.SafePath(configPath));
        if (configName.EndsWith(".json", StringComparison.Ordinal)) configName = configName[..^5];
        if (Digest.IsValid("sha256:" + configName) && "sha256:" + configName != config.Digest)
            throw new ZarFormatException($"{what}: config {configPath}: digest mismatch, content hashes to {config.Digest}");

        var layerPaths = item.TryGetProperty("Layers", out var ls) && ls.ValueKind == JsonValueKind.Array
            ? ls.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw new ZarFormatException($"{what}: manifest.json Layers holds a non-string")).ToList()
            : new List<string>();
        if (layerPaths.Count != config.DiffIds.Count)
            throw new ZarFormatException($"{what}: manifest.json lists {layerPaths.Count} layers but the config has {config.DiffIds.Count} diff_ids");

        // LayerSources maps a diff_id to the layer's descriptor; only its media type is of use here, as a hint.
        var mediaTypes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (item.TryGetProperty("LayerSources", out var src) && src.ValueKind == JsonValueKind.Object)
            foreach (var p in src.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object && OciJson.LenientString(p.Value, "mediaType") is { } m)
                    mediaTypes[p.Name] = m;

        var layers = new List<ImageLayer>();
        for (int i = 0; i < layerPaths.Count; i++)
        {
            var path = store.SafePath(layerPaths[i]);
            if (!store.Exists(path)) throw new ZarNotFoundException($"{what}: layer {i + 1} ({layerPaths[i]}) is not in the archive");
            var diffId = config.DiffIds[i];
            // blobs/<alg>/<hex> names the blob by its digest (compressed or not); legacy layer.tar files are
            // uncompressed, so the diff_id is all there is to check.
            string? digest = null;
            var parts = path.Split('/');
            if (parts.Length == 3 && parts[0] == "blobs" && Digest.IsValid(parts[1] + ":" + parts[2])) digest = parts[1] + ":" + parts[2];
            var mediaType = mediaTypes.GetValueOrDefault(diffId, MediaTypes.DockerLayer);
            long size = store.Length(path);
            var p = path;
            layers.Add(new ImageLayer(digest, mediaType, size, diffId, $"{what} layer {i + 1} ({layerPaths[i]})", () => store.Open(p), () => store.Locate(p)));
        }
        return new DockerArchiveSource(store, what, config, layers);
    }

    static IEnumerable<string> Tags(JsonElement item) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty("RepoTags", out var t) && t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)
            : Enumerable.Empty<string>();

    static string Names(List<JsonElement> items)
    {
        var names = new List<string>();
        for (int i = 0; i < items.Count; i++)
        {
            var tags = Tags(items[i]).ToList();
            names.Add(tags.Count > 0 ? string.Join(", ", tags) : "@" + i);
        }
        return string.Join(", ", names);
    }

    /// <summary>Docker's familiar-name normalization (distribution/reference): "alpine" = "docker.io/library/alpine:latest".</summary>
    internal static string NormalizeReference(string reference)
    {
        var r = reference;
        string? digest = null;
        int at = r.IndexOf('@');
        if (at >= 0) { digest = r[at..]; r = r[..at]; }
        int slash = r.LastIndexOf('/');
        int colon = r.LastIndexOf(':');
        string tag = "";
        if (colon > slash) { tag = r[colon..]; r = r[..colon]; }
        else if (digest == null) tag = ":latest";
        int first = r.IndexOf('/');
        var head = first < 0 ? "" : r[..first];
        bool hasHost = first >= 0 && (head.Contains('.') || head.Contains(':') || head == "localhost" || head.Any(char.IsUpper));
        if (!hasHost) r = "docker.io/" + (first < 0 ? "library/" + r : r);
        else if (head == "index.docker.io") r = "docker.io" + r[first..];
        return r + tag + (digest ?? "");
    }

    public void Dispose() => _store.Dispose();
}
