using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// A content descriptor (image-spec descriptor.md): what the content is, its digest and size, and the optional
/// fields index entries and layers carry. Read strictly where the spec says REQUIRED (a grammatical digest, a
/// non-negative size); optional fields of the wrong type are ignored, as other readers do.
/// </summary>
public sealed record Descriptor
{
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";
    public const string ContainerdNameAnnotation = "io.containerd.image.name";

    /// <summary>REQUIRED by the spec, yet absent in some old documents: null then.</summary>
    public string? MediaType { get; init; }
    public string Digest { get; init; }
    public long Size { get; init; }
    public IReadOnlyList<string>? Urls { get; init; }
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    /// <summary>The content itself, embedded (decoded from base64); verify it like fetched bytes.</summary>
    public byte[]? Data { get; init; }
    public string? ArtifactType { get; init; }
    public Platform? Platform { get; init; }

    public Descriptor(string? mediaType, string digest, long size)
    {
        MediaType = mediaType;
        Digest = digest;
        Size = size;
    }

    public string? Annotation(string name) => Annotations?.GetValueOrDefault(name);

    /// <summary>The tag of an index.json entry (org.opencontainers.image.ref.name).</summary>
    public string? RefName => Annotation(RefNameAnnotation);

    /// <summary>An image manifest or index, or an entry that does not say (index entries of other types are skipped, not errors).</summary>
    public bool IsImageOrIndex => MediaType is null || MediaTypes.IsIndex(MediaType) || MediaTypes.IsManifest(MediaType);

    public string PlatformText => Platform?.ToString() ?? "(no platform)";

    public static Descriptor Read(JsonElement e, string what)
    {
        OciJson.RequireObject(e, what, "descriptor");
        var digest = OciJson.LenientString(e, "digest");
        if (!Oci.Digest.IsValid(digest)) throw new ZarFormatException($"{what}: descriptor has an invalid digest '{digest}'");
        if (!e.TryGetProperty("size", out var sz) || sz.ValueKind != JsonValueKind.Number || !sz.TryGetInt64(out long size) || size < 0)
            throw new ZarFormatException($"{what}: descriptor {digest} has no valid size");
        byte[]? data = null;
        if (OciJson.LenientString(e, "data") is { } b64)
        {
            try { data = Convert.FromBase64String(b64); }
            catch (FormatException) { throw new ZarFormatException($"{what}: descriptor {digest} has invalid base64 data"); }
        }
        return new Descriptor(OciJson.LenientString(e, "mediaType"), digest!, size)
        {
            Urls = e.TryGetProperty("urls", out var u) && u.ValueKind == JsonValueKind.Array
                ? u.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList() : null,
            Annotations = e.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object
                ? OciJson.StringMap(e, "annotations", what) : null,
            Data = data,
            ArtifactType = OciJson.LenientString(e, "artifactType"),
            Platform = e.TryGetProperty("platform", out var p) ? Platform.Read(p, what) : null,
        };
    }

    /// <summary>A list of descriptors (<c>manifests</c>, <c>layers</c>); absent or null is an empty list.</summary>
    public static List<Descriptor> ReadList(JsonElement parent, string property, string what)
    {
        if (OciJson.Property(parent, property) is not { } list) return [];
        if (list.ValueKind != JsonValueKind.Array) throw new ZarFormatException($"{what}: '{property}' is not a list");
        return list.EnumerateArray().Select(item => Read(item, what)).ToList();
    }

    /// <summary>Writes the descriptor as an object, fields in the spec's order (so equal descriptors give equal bytes).</summary>
    public void Write(Utf8JsonWriter w, string? propertyName = null)
    {
        if (propertyName is null) w.WriteStartObject(); else w.WriteStartObject(propertyName);
        OciJson.WriteStringIfSet(w, "mediaType", MediaType);
        w.WriteString("digest", Digest);
        w.WriteNumber("size", Size);
        if (Urls is { Count: > 0 }) OciJson.WriteStringList(w, "urls", Urls);
        OciJson.WriteStringMapIfSet(w, "annotations", Annotations);
        if (Data != null) w.WriteString("data", Convert.ToBase64String(Data));
        OciJson.WriteStringIfSet(w, "artifactType", ArtifactType);
        Platform?.Write(w);
        w.WriteEndObject();
    }

    public static void WriteList(Utf8JsonWriter w, string propertyName, IEnumerable<Descriptor> descriptors)
    {
        w.WriteStartArray(propertyName);
        foreach (var d in descriptors) d.Write(w);
        w.WriteEndArray();
    }

    public override string ToString() => $"{MediaType} {Digest} ({Size} bytes)";
}
