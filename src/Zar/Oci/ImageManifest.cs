using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>An OCI image manifest (image-spec manifest.md) or a Docker schema 2 manifest (same shape).</summary>
public sealed record ImageManifest
{
    public int SchemaVersion { get; init; } = 2;
    /// <summary>SHOULD be present; old OCI manifests leave it out.</summary>
    public string? MediaType { get; init; }
    public string? ArtifactType { get; init; }
    public Descriptor? Config { get; init; }
    /// <summary>Base layer first.</summary>
    public IReadOnlyList<Descriptor> Layers { get; init; } = [];
    public Descriptor? Subject { get; init; }
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    public static ImageManifest Parse(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = OciJson.Parse(json, what);
        var root = OciJson.RequireObject(doc.RootElement, what, "manifest");
        return new ImageManifest
        {
            SchemaVersion = SchemaVersionOf(root, what),
            MediaType = OciJson.String(root, "mediaType", what),
            ArtifactType = OciJson.String(root, "artifactType", what),
            Config = OciJson.Property(root, "config") is { } c ? Descriptor.Read(c, what) : null,
            Layers = Descriptor.ReadList(root, "layers", what),
            Subject = OciJson.Property(root, "subject") is { } s ? Descriptor.Read(s, what) : null,
            Annotations = OciJson.StringMap(root, "annotations", what),
        };
    }

    /// <summary>Compact JSON, fields in the spec's order: the same manifest always gives the same bytes (and digest).</summary>
    public byte[] ToJson() => OciJson.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", SchemaVersion);
        OciJson.WriteStringIfSet(w, "mediaType", MediaType);
        OciJson.WriteStringIfSet(w, "artifactType", ArtifactType);
        Config?.Write(w, "config");
        Descriptor.WriteList(w, "layers", Layers);
        Subject?.Write(w, "subject");
        OciJson.WriteStringMapIfSet(w, "annotations", Annotations);
        w.WriteEndObject();
    });

    internal static int SchemaVersionOf(JsonElement root, string what) =>
        OciJson.Property(root, "schemaVersion") is { } v
            ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n : throw new ZarFormatException($"{what}: 'schemaVersion' is not a number")
            : 2;
}
