using System.Text.Json;
using System.Text.Json.Nodes;
using Zar.IO;
using Zar.Model;
using Zar.Sources.Registry;

namespace Zar.Consumers.Cfs;

/// <summary>
/// The CFS image as an OCI image: one uncompressed layer (<c>application/vnd.oci.image.layer.v1.tar</c>) per
/// zar image, each a tar holding just that file at the root (0644, 0:0, mtime = the source's created time),
/// and the source's runtime config with new diff_ids and one history entry per layer. The same generator
/// output always gives the same digests.
/// </summary>
public sealed class CfsOciImage
{
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    public required CfsResult Result { get; init; }
    public required byte[] Config { get; init; }
    public required byte[] Manifest { get; init; }
    public string ConfigDigest => Digest.Sha256(Config);
    public string ManifestDigest => Digest.Sha256(Manifest);
    public IReadOnlyList<Descriptor> LayerDescriptors { get; init; } = Array.Empty<Descriptor>();

    // Runtime fields carried over from the source config, in image-spec order.
    static readonly string[] RuntimeFields =
        ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal",
         "ArgsEscaped", "Healthcheck", "Shell", "OnBuild"];

    public static CfsOciImage Build(CfsResult result)
    {
        var config = ConfigJson(result);
        var layers = result.Layers.Select(l => new Descriptor(MediaTypes.OciLayer, l.TarDigest, l.TarSize)).ToList();
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = DescriptorJson(new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length)),
            ["layers"] = new JsonArray(layers.Select(d => (JsonNode)DescriptorJson(d)).ToArray()),
        };
        return new CfsOciImage
        {
            Result = result,
            Config = config,
            Manifest = JsonSerializer.SerializeToUtf8Bytes(manifest),
            LayerDescriptors = layers,
        };
    }

    static JsonObject DescriptorJson(Descriptor d) => new()
    {
        ["mediaType"] = d.MediaType,
        ["digest"] = d.Digest,
        ["size"] = d.Size,
    };

    static byte[] ConfigJson(CfsResult result)
    {
        var src = result.SourceConfig;
        var what = $"{result.SourceDescription}: config";
        JsonObject source;
        try { source = JsonNode.Parse(src.Json) as JsonObject ?? throw new ZarFormatException($"{what}: not a JSON object"); }
        catch (JsonException e) { throw new ZarFormatException($"{what}: not valid JSON ({e.Message})", e); }
        var cfg = new JsonObject();
        if (source["config"] is JsonObject runtime)
            foreach (var field in RuntimeFields)
                if (runtime[field] is { } v) cfg[field] = v.DeepClone();
        var config = new JsonObject();
        if (src.Created != null) config["created"] = src.Created;
        if (src.Author != null) config["author"] = src.Author;
        config["architecture"] = src.Architecture ?? "amd64";
        config["os"] = src.Os ?? "linux";
        if (source["os.version"] is JsonValue osVersion) config["os.version"] = osVersion.DeepClone();
        if (src.Variant != null) config["variant"] = src.Variant;
        config["config"] = cfg;
        config["rootfs"] = new JsonObject
        {
            ["type"] = "layers",
            ["diff_ids"] = new JsonArray(result.Layers.Select(l => (JsonNode)JsonValue.Create(l.TarDigest)).ToArray()),
        };
        var history = new JsonArray();
        foreach (var l in result.Layers)
        {
            var h = new JsonObject();
            if (src.Created != null) h["created"] = src.Created;
            h["created_by"] = $"ADD {l.FileName} / # zar cfs";
            // Only content-derived text: the same image read from another place must give the same digests.
            h["comment"] = l.DiffId != null ? $"source layer {l.Index + 1}, diff_id {l.DiffId}" : $"source layer {l.Index + 1}";
            history.Add(h);
        }
        config["history"] = history;
        return JsonSerializer.SerializeToUtf8Bytes(config);
    }

    Stream OpenLayer(int i)
    {
        var l = Result.Layers[i];
        return SingleFileTar.Open(l.Path, l.FileName, Result.TarMtime);
    }

    /// <summary>
    /// Writes (or adds to) an OCI image layout: blobs, <c>oci-layout</c>, and an <c>index.json</c> entry tagged
    /// <paramref name="tag"/> (an earlier entry with the same tag is replaced, others are kept). Returns the manifest digest.
    /// </summary>
    public string WriteOciLayout(string layoutDir, string tag = "latest")
    {
        if (string.IsNullOrEmpty(tag)) tag = "latest";
        if (File.Exists(layoutDir)) throw new ZarException($"{layoutDir}: exists and is not a directory");
        Directory.CreateDirectory(layoutDir);
        var blobs = Path.Combine(layoutDir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        for (int i = 0; i < Result.Layers.Count; i++)
        {
            var path = Path.Combine(blobs, Digest.Encoded(Result.Layers[i].TarDigest));
            if (File.Exists(path) && new FileInfo(path).Length == Result.Layers[i].TarSize) continue;
            using var f = new AtomicFile(path);
            using (var tar = OpenLayer(i)) tar.CopyTo(f.Stream, 1 << 20);
            f.Commit();
        }
        CfsGenerator.WriteAtomic(Path.Combine(blobs, Digest.Encoded(ConfigDigest)), Config);
        CfsGenerator.WriteAtomic(Path.Combine(blobs, Digest.Encoded(ManifestDigest)), Manifest);
        var layoutFile = Path.Combine(layoutDir, "oci-layout");
        if (!File.Exists(layoutFile)) CfsGenerator.WriteAtomic(layoutFile, """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray());

        var indexPath = Path.Combine(layoutDir, "index.json");
        var manifests = new JsonArray();
        if (File.Exists(indexPath))
        {
            JsonObject? old;
            try { old = JsonNode.Parse(File.ReadAllBytes(indexPath)) as JsonObject; }
            catch (JsonException e) { throw new ZarFormatException($"{indexPath}: not valid JSON ({e.Message})", e); }
            if (old?["manifests"] is JsonArray existing)
                foreach (var m in existing)
                    if (m?["annotations"]?[RefNameAnnotation]?.GetValue<string>() != tag) manifests.Add(m!.DeepClone());
        }
        var entry = DescriptorJson(new Descriptor(MediaTypes.OciManifest, ManifestDigest, Manifest.Length));
        entry["annotations"] = new JsonObject { [RefNameAnnotation] = tag };
        manifests.Add(entry);
        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = manifests };
        CfsGenerator.WriteAtomic(indexPath, JsonSerializer.SerializeToUtf8Bytes(index));
        return ManifestDigest;
    }

    /// <summary>Pushes layers, config and manifest (blobs the registry has are skipped). Returns the manifest digest.</summary>
    public async Task<string> PushAsync(RegistryReference target, RegistryClientOptions? options = null, IProgress<BlobProgress>? progress = null, CancellationToken ct = default)
    {
        using var client = RegistryClient.For(target, options);
        var blobs = Result.Layers.Select((l, i) => new PushBlob(LayerDescriptors[i], () => OpenLayer(i)))
            .Append(new PushBlob(new Descriptor(MediaTypes.OciConfig, ConfigDigest, Config.Length), () => new MemoryStream(Config, writable: false)));
        return await client.PushImageAsync(target, Manifest, MediaTypes.OciManifest, blobs, progress: progress, ct: ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The CLI's <c>--output</c>: <c>oci:DIR[:TAG]</c> writes an OCI layout, <c>docker://HOST/REPO:TAG</c> pushes.
    /// Returns the manifest digest.
    /// </summary>
    public async Task<string> WriteOutputAsync(string output, RegistryClientOptions? registryOptions = null, CancellationToken ct = default)
    {
        if (output.StartsWith("oci:", StringComparison.Ordinal))
        {
            var rest = output[4..];
            int colon = rest.IndexOf(':');
            var dir = colon < 0 ? rest : rest[..colon];
            var tag = colon < 0 ? "latest" : rest[(colon + 1)..];
            if (dir.Length == 0) throw new ZarException($"{output}: missing directory");
            return WriteOciLayout(dir, tag);
        }
        if (output.StartsWith("docker://", StringComparison.Ordinal))
            return await PushAsync(RegistryReference.Parse(output), registryOptions, null, ct).ConfigureAwait(false);
        throw new ZarException($"{output}: unknown output (expected oci:DIR[:TAG] or docker://HOST/REPO:TAG)");
    }
}
