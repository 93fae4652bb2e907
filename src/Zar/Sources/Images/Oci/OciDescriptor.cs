using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Images.Oci;

/// <summary>An OCI content descriptor (image-spec descriptor.md), with the platform of index entries.</summary>
sealed record OciDescriptor(string? MediaType, string Digest, long Size, IReadOnlyDictionary<string, string> Annotations,
    string? Os, string? Architecture, string? Variant, byte[]? Data)
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string ContainerdName = "io.containerd.image.name";

    public static bool IsIndex(string? mt) => mt is OciIndex or DockerManifestList;
    public static bool IsManifest(string? mt) => mt is OciManifest or DockerManifest;
    public static bool IsConfig(string? mt) => mt is OciConfig or DockerConfig;

    public bool HasPlatform => Os != null || Architecture != null;
    public string PlatformText => !HasPlatform ? "(no platform)" : Variant == null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
    public string? Ref => Annotations.GetValueOrDefault(RefName);

    public static OciDescriptor Parse(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: descriptor is not a JSON object");
        string? Str(JsonElement o, string n) => o.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var digest = Str(e, "digest");
        if (!BlobDigest.IsValid(digest)) throw new ZarFormatException($"{what}: descriptor has an invalid digest '{digest}'");
        if (!e.TryGetProperty("size", out var sz) || sz.ValueKind != JsonValueKind.Number || !sz.TryGetInt64(out long size) || size < 0)
            throw new ZarFormatException($"{what}: descriptor {digest} has no valid size");
        var ann = new Dictionary<string, string>(StringComparer.Ordinal);
        if (e.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object)
            foreach (var p in a.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.String) ann[p.Name] = p.Value.GetString()!;
        string? os = null, arch = null, variant = null;
        if (e.TryGetProperty("platform", out var pl) && pl.ValueKind == JsonValueKind.Object)
        {
            os = Str(pl, "os");
            arch = Str(pl, "architecture");
            variant = Str(pl, "variant");
        }
        byte[]? data = null;
        if (Str(e, "data") is { } b64)
        {
            try { data = Convert.FromBase64String(b64); }
            catch (FormatException) { throw new ZarFormatException($"{what}: descriptor {digest} has invalid base64 data"); }
        }
        return new OciDescriptor(Str(e, "mediaType"), digest!, size, ann, os, arch, variant, data);
    }

    public static List<OciDescriptor> ParseList(JsonElement parent, string property, string what)
    {
        var list = new List<OciDescriptor>();
        if (!parent.TryGetProperty(property, out var arr) || arr.ValueKind == JsonValueKind.Null) return list;
        if (arr.ValueKind != JsonValueKind.Array) throw new ZarFormatException($"{what}: '{property}' is not a list");
        foreach (var item in arr.EnumerateArray()) list.Add(Parse(item, what));
        return list;
    }
}
