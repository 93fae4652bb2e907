namespace Zar.Oci;

/// <summary>An OCI image index (image-spec image-index.md) or a Docker manifest list (same shape); also index.json of a layout.</summary>
public sealed record ImageIndex
{
    public int SchemaVersion { get; init; } = 2;
    public string? MediaType { get; init; }
    public string? ArtifactType { get; init; }
    public IReadOnlyList<Descriptor> Manifests { get; init; } = [];
    public Descriptor? Subject { get; init; }
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>The entries that are image manifests or indexes (or do not say); entries of other types are skipped, as the spec asks.</summary>
    public IReadOnlyList<Descriptor> Images => Manifests.Where(d => d.IsImageOrIndex).ToList();

    public static ImageIndex Parse(ReadOnlyMemory<byte> json, string what)
    {
        using var doc = OciJson.Parse(json, what);
        var root = OciJson.RequireObject(doc.RootElement, what, "index");
        return new ImageIndex
        {
            SchemaVersion = ImageManifest.SchemaVersionOf(root, what),
            MediaType = OciJson.String(root, "mediaType", what),
            ArtifactType = OciJson.String(root, "artifactType", what),
            Manifests = Descriptor.ReadList(root, "manifests", what),
            Subject = OciJson.Property(root, "subject") is { } s ? Descriptor.Read(s, what) : null,
            Annotations = OciJson.StringMap(root, "annotations", what),
        };
    }

    /// <summary>JSON, fields in the spec's order; indented for index.json files people read.</summary>
    public byte[] ToJson(bool indented = false) => OciJson.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", SchemaVersion);
        OciJson.WriteStringIfSet(w, "mediaType", MediaType);
        OciJson.WriteStringIfSet(w, "artifactType", ArtifactType);
        Descriptor.WriteList(w, "manifests", Manifests);
        Subject?.Write(w, "subject");
        OciJson.WriteStringMapIfSet(w, "annotations", Annotations);
        w.WriteEndObject();
    }, indented);
}
