using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Images.Oci;

/// <summary>
/// An image in an OCI image layout (image-spec image-layout.md), as a directory (<c>oci:</c>) or inside an
/// uncompressed tar (<c>oci-archive:</c>, moby v25+ and containerd <c>docker save</c> output). The image is
/// chosen by tag (org.opencontainers.image.ref.name or io.containerd.image.name in index.json) or digest,
/// then nested indexes are descended by platform. Manifests and the config are verified against their
/// descriptors; layer blobs are verified while they are read (see LayerStack).
/// </summary>
sealed class OciLayoutSource : IImageSource
{
    const int MaxIndexDepth = 8;
    readonly IBlobStore _store;

    public string Description { get; }
    public ImageConfiguration Config { get; }
    public IReadOnlyList<ImageLayer> Layers { get; }
    public string? ManifestDigest { get; }

    OciLayoutSource(IBlobStore store, string description, ImageConfiguration config, IReadOnlyList<ImageLayer> layers, string manifestDigest)
    {
        _store = store;
        Description = description;
        Config = config;
        Layers = layers;
        ManifestDigest = manifestDigest;
    }

    public static bool IsLayout(IBlobStore store) => store.Exists("oci-layout");

    public static OciLayoutSource Open(IBlobStore store, string? reference, string platform, string description)
    {
        if (!store.Exists("oci-layout")) throw new ZarFormatException($"{description}: not an OCI image layout (no oci-layout file)");
        using (var layoutDoc = ParseJson(store.ReadAll("oci-layout"), $"{description}: oci-layout"))
        {
            var version = layoutDoc.RootElement.ValueKind == JsonValueKind.Object && layoutDoc.RootElement.TryGetProperty("imageLayoutVersion", out var v) ? v.ToString() : null;
            if (version != "1.0.0") throw new ZarNotSupportedException($"{description}: oci-layout version '{version}' is not supported (1.0.0)");
        }
        if (!store.Exists("index.json")) throw new ZarFormatException($"{description}: OCI layout without index.json");
        List<OciDescriptor> top;
        using (var indexDoc = ParseJson(store.ReadAll("index.json"), $"{description}: index.json"))
            top = OciDescriptor.ParseList(indexDoc.RootElement, "manifests", $"{description}: index.json");
        var images = top.Where(d => d.MediaType == null || OciDescriptor.IsIndex(d.MediaType) || OciDescriptor.IsManifest(d.MediaType)).ToList();

        List<OciDescriptor> chosen;
        if (reference == null)
        {
            var digests = images.Select(d => d.Digest).Distinct().ToList();
            if (digests.Count == 0) throw new ZarNotFoundException($"{description}: the layout holds no image");
            // Several entries with one digest, or per-platform entries under one name: treat them as one index.
            var refs = images.Select(d => d.Ref ?? d.Annotations.GetValueOrDefault(OciDescriptor.ContainerdName)).Distinct().ToList();
            if (digests.Count > 1 && refs.Count > 1)
                throw new ZarException($"{description}: the layout holds {images.Count} images; name one ({Names(images)})");
            chosen = images;
        }
        else
        {
            var want = reference.StartsWith('@') ? reference[1..] : reference;
            chosen = images.Where(d => d.Digest == want || d.Ref == want || d.Annotations.GetValueOrDefault(OciDescriptor.ContainerdName) == want).ToList();
            if (chosen.Count == 0)
                throw new ZarNotFoundException($"{description}: no image named '{reference}' in index.json (available: {Names(images)})");
        }
        var desc = chosen.Count == 1 ? chosen[0] : SelectPlatform(chosen, platform, $"{description}: index.json");
        var fullDescription = reference == null ? description : $"{description}:{reference}";
        return Resolve(store, desc, platform, fullDescription, 0);
    }

    static string Names(IEnumerable<OciDescriptor> images)
    {
        var names = images.Select(d => d.Ref ?? d.Annotations.GetValueOrDefault(OciDescriptor.ContainerdName) ?? d.Digest).Distinct().ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    static Platform? PlatformOf(OciDescriptor d) =>
        d.HasPlatform ? new Platform(d.Os ?? "", d.Architecture ?? "", d.Variant).Normalize() : null;

    static OciDescriptor SelectPlatform(IReadOnlyList<OciDescriptor> entries, string platform, string what)
    {
        var order = Platform.Parse(platform).RankEntries(entries, PlatformOf, d => d.Annotations);
        if (order.Count == 0)
            throw new ZarNotFoundException($"{what}: no image for platform {platform} (available: {Platform.DescribeAvailable(entries, d => d.HasPlatform ? new Platform(d.Os ?? "", d.Architecture ?? "", d.Variant) : null, d => d.Annotations)}); choose one with --platform");
        return entries[order[0]];
    }

    static OciLayoutSource Resolve(IBlobStore store, OciDescriptor desc, string platform, string description, int depth)
    {
        if (depth > MaxIndexDepth) throw new ZarFormatException($"{description}: image indexes nested more than {MaxIndexDepth} deep");
        var bytes = ReadBlob(store, desc, description);
        using var doc = ParseJson(bytes, $"{description}: {desc.Digest}");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{description}: {desc.Digest} is not a JSON object");
        string? mediaType = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : desc.MediaType;
        if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
            throw new ZarNotSupportedException($"{description}: {desc.Digest} is a Docker schema 1 manifest, which is not supported");
        bool isIndex = OciDescriptor.IsIndex(mediaType) || mediaType == null && root.TryGetProperty("manifests", out _) && !root.TryGetProperty("layers", out _);
        if (isIndex)
        {
            var entries = OciDescriptor.ParseList(root, "manifests", $"{description}: index {desc.Digest}")
                .Where(d => d.MediaType == null || OciDescriptor.IsIndex(d.MediaType) || OciDescriptor.IsManifest(d.MediaType)).ToList();
            var child = SelectPlatform(entries, platform, $"{description}: index {desc.Digest}");
            if (!store.Exists(BlobPath(child.Digest)) && child.Data == null)
                throw new ZarNotFoundException($"{description}: the manifest {child.Digest} for {child.PlatformText} is not in the layout (only some platforms were saved)");
            return Resolve(store, child, platform, description, depth + 1);
        }
        if (mediaType != null && !OciDescriptor.IsManifest(mediaType))
            throw new ZarNotSupportedException($"{description}: {desc.Digest} has media type {mediaType}, not an image manifest");

        if (!root.TryGetProperty("config", out var cfgEl)) throw new ZarFormatException($"{description}: manifest {desc.Digest} has no config");
        var cfgDesc = OciDescriptor.Parse(cfgEl, $"{description}: manifest {desc.Digest}");
        if (cfgDesc.MediaType != null && !OciDescriptor.IsConfig(cfgDesc.MediaType))
            throw new ZarNotSupportedException($"{description}: {desc.Digest} is an artifact ({cfgDesc.MediaType}), not a container image");
        var config = ImageConfiguration.Parse(ReadBlob(store, cfgDesc, description), $"{description}: config {cfgDesc.Digest}");
        var layerDescs = OciDescriptor.ParseList(root, "layers", $"{description}: manifest {desc.Digest}");
        if (config.DiffIds.Count != layerDescs.Count)
            throw new ZarFormatException($"{description}: manifest lists {layerDescs.Count} layers but the config has {config.DiffIds.Count} diff_ids");

        var layers = new List<ImageLayer>();
        for (int i = 0; i < layerDescs.Count; i++)
        {
            var ld = layerDescs[i];
            var mtype = ld.MediaType ?? "application/vnd.oci.image.layer.v1.tar";
            if (mtype.EndsWith("+encrypted", StringComparison.Ordinal))
                throw new ZarNotSupportedException($"{description}: layer {ld.Digest} is encrypted ({mtype})");
            var path = BlobPath(ld.Digest);
            if (!store.Exists(path))
                throw new ZarNotFoundException($"{description}: layer blob {ld.Digest} is not in the layout");
            layers.Add(new ImageLayer(ld.Digest, mtype, ld.Size, config.DiffIds[i], $"{description} layer {i + 1}", () => store.Open(path)));
        }
        return new OciLayoutSource(store, description, config, layers, desc.Digest);
    }

    public static string BlobPath(string digest) => $"blobs/{BlobDigest.Algorithm(digest)}/{BlobDigest.Encoded(digest)}";

    /// <summary>Small blob (manifest, index, config) checked against its descriptor: size first, then digest.</summary>
    static byte[] ReadBlob(IBlobStore store, OciDescriptor desc, string description)
    {
        byte[] bytes;
        if (desc.Data != null) bytes = desc.Data;
        else
        {
            var path = BlobPath(desc.Digest);
            if (!store.Exists(path)) throw new ZarNotFoundException($"{description}: blob {desc.Digest} is not in the layout");
            if (store.Length(path) != desc.Size)
                throw new ZarFormatException($"{description}: blob {desc.Digest} is {store.Length(path)} bytes, its descriptor says {desc.Size}");
            bytes = store.ReadAll(path);
        }
        if (bytes.Length != desc.Size)
            throw new ZarFormatException($"{description}: blob {desc.Digest} is {bytes.Length} bytes, its descriptor says {desc.Size}");
        if (BlobDigest.CreateHasher(desc.Digest) != null)
        {
            var got = BlobDigest.Compute(desc.Digest, bytes);
            if (got != desc.Digest) throw new ZarFormatException($"{description}: blob {desc.Digest}: digest mismatch, content hashes to {got}");
        }
        return bytes;
    }

    internal static JsonDocument ParseJson(byte[] bytes, string what)
    {
        try { return JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new ZarFormatException($"{what}: invalid JSON ({e.Message})", e); }
    }

    public void Dispose() => _store.Dispose();
}
