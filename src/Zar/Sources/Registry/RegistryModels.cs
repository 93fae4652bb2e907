using System.Text.Json;
using System.Text.Json.Serialization;
using Zar.Model;
using Zar.Sources.Images;

namespace Zar.Sources.Registry;

public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>Every manifest/index type we understand, in one Accept header: strict registries 404 types not listed.</summary>
    public const string ManifestAccept = OciIndex + ", " + OciManifest + ", " + DockerManifestList + ", " + DockerManifest;

    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;
    public static bool IsImageConfig(string? mediaType) => mediaType is OciConfig or DockerConfig;
    public static bool IsSchema1(string? mediaType) => mediaType is DockerSchema1 or DockerSchema1Signed;

    /// <summary>The media type without parameters (`; charset=utf-8`), lowercased.</summary>
    public static string? Bare(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return null;
        int semi = contentType.IndexOf(';');
        return (semi < 0 ? contentType : contentType[..semi]).Trim().ToLowerInvariant();
    }
}

public sealed class PlatformJson
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("os.version")] public string? OsVersion { get; set; }
    [JsonPropertyName("os.features")] public List<string>? OsFeatures { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }

    public Platform? ToPlatform() =>
        Os is null && Architecture is null ? null : new Platform(Os ?? "", Architecture ?? "", Variant, OsVersion);

    public static PlatformJson From(Platform p) => new() { Os = p.Os, Architecture = p.Architecture, Variant = p.Variant, OsVersion = p.OsVersion };
}

public sealed class Descriptor
{
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("digest")] public string Digest { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("urls")] public List<string>? Urls { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("data")] public string? Data { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("platform")] public PlatformJson? Platform { get; set; }

    public Descriptor() { }
    public Descriptor(string mediaType, string digest, long size) { MediaType = mediaType; Digest = digest; Size = size; }

    public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
}

/// <summary>An OCI image manifest or a Docker schema 2 manifest (same shape).</summary>
public sealed class ImageManifest
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("config")] public Descriptor? Config { get; set; }
    [JsonPropertyName("layers")] public List<Descriptor>? Layers { get; set; }
    [JsonPropertyName("subject")] public Descriptor? Subject { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>An OCI image index or a Docker manifest list (same shape).</summary>
public sealed class ImageIndex
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("manifests")] public List<Descriptor>? Manifests { get; set; }
    [JsonPropertyName("subject")] public Descriptor? Subject { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
}

/// <summary>The parts of an image config this library reads (the raw bytes are kept for everything else).</summary>
public sealed class ImageConfig
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("os.version")] public string? OsVersion { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    [JsonPropertyName("created")] public string? Created { get; set; }
    [JsonPropertyName("config")] public JsonElement? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFs? RootFs { get; set; }
    [JsonPropertyName("history")] public List<JsonElement>? History { get; set; }

    public Platform? ToPlatform() =>
        Os is null && Architecture is null ? null : new Platform(Os ?? "", Architecture ?? "", Variant, OsVersion);
}

public sealed class RootFs
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; set; }
}

public static class RegistryJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        AllowTrailingCommas = false,
    };

    public static T Parse<T>(byte[] bytes, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Options) ?? throw new ZarFormatException($"{what}: JSON is null");
        }
        catch (JsonException e)
        {
            throw new ZarFormatException($"{what}: invalid JSON ({e.Message})", e);
        }
    }

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>
    /// Index vs manifest: by the body's mediaType when present, else the HTTP Content-Type, else by shape
    /// (`manifests` vs `layers`) because `mediaType` is optional in older OCI manifests.
    /// </summary>
    public static string DetectManifestMediaType(byte[] bytes, string? contentType, string what)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new ZarFormatException($"{what}: manifest is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: manifest is not a JSON object");
            string? bodyType = root.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.GetInt32() == 1)
                throw new ZarNotSupportedException($"{what}: Docker schema 1 manifests are not supported");
            if (bodyType != null)
            {
                if (MediaTypes.IsSchema1(bodyType)) throw new ZarNotSupportedException($"{what}: Docker schema 1 manifests are not supported");
                return bodyType;
            }
            var ct = MediaTypes.Bare(contentType);
            if (MediaTypes.IsSchema1(ct)) throw new ZarNotSupportedException($"{what}: Docker schema 1 manifests are not supported");
            bool hasManifests = root.TryGetProperty("manifests", out _), hasLayers = root.TryGetProperty("layers", out _);
            if (hasManifests && !hasLayers) return MediaTypes.IsIndex(ct) ? ct! : MediaTypes.OciIndex;
            if (hasLayers || root.TryGetProperty("config", out _)) return MediaTypes.IsManifest(ct) ? ct! : MediaTypes.OciManifest;
            if (ct != null && (MediaTypes.IsIndex(ct) || MediaTypes.IsManifest(ct))) return ct;
            throw new ZarFormatException($"{what}: neither an image manifest nor an index (no mediaType, layers or manifests)");
        }
    }
}
