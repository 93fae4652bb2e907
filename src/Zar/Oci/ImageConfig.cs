using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// The image config JSON (image-spec config.md, Docker image v1.2), parsed into the fields a runtime or a
/// Dockerfile needs. <see cref="Json"/> keeps the exact bytes: their digest is the image ID, and fields this type
/// does not model (Healthcheck, Shell, OnBuild ...) are carried over from them when a new config is written.
/// </summary>
public sealed class ImageConfig
{
    public required byte[] Json { get; init; }
    /// <summary>sha256 digest of <see cref="Json"/> (the image ID).</summary>
    public string Digest => Oci.Digest.Sha256(Json);
    public string? Architecture { get; init; }
    public string? Os { get; init; }
    public string? OsVersion { get; init; }
    public string? Variant { get; init; }
    public string? Created { get; init; }
    public string? Author { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    /// <summary>null when not set (different from an explicit empty list, which clears a base image's value).</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public string? WorkingDir { get; init; }
    /// <summary>"80/tcp", "53/udp", ... (keys of config.ExposedPorts).</summary>
    public IReadOnlyList<string> ExposedPorts { get; init; } = [];
    /// <summary>Keys of config.Volumes.</summary>
    public IReadOnlyList<string> Volumes { get; init; } = [];
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? StopSignal { get; init; }
    /// <summary>rootfs.diff_ids: digests of the uncompressed layer tars, bottom first.</summary>
    public IReadOnlyList<string> DiffIds { get; init; } = [];
    public IReadOnlyList<HistoryEntry> History { get; init; } = [];

    /// <summary>The platform the config names (normalized), or null when it names neither os nor architecture.</summary>
    public Platform? Platform =>
        Os is null && Architecture is null ? null : new Platform(Os ?? "", Architecture ?? "", Variant, OsVersion).Normalize();

    // Runtime fields (config.*) carried into a derived config, in image-spec order.
    static readonly string[] RuntimeFields =
        ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal",
         "ArgsEscaped", "Healthcheck", "Shell", "OnBuild"];

    public static ImageConfig Parse(byte[] json, string what)
    {
        what = $"{what}: image config";
        using var doc = OciJson.Parse(json, what);
        var root = OciJson.RequireObject(doc.RootElement, what, "the document");
        var cfg = OciJson.Property(root, "config") is { ValueKind: JsonValueKind.Object } c ? c : (JsonElement?)null;
        var diffIds = new List<string>();
        if (OciJson.Property(root, "rootfs") is { ValueKind: JsonValueKind.Object } rootfs)
        {
            var type = OciJson.String(rootfs, "type", what);
            if (type != "layers") throw new ZarFormatException($"{what}: rootfs.type is '{type}', expected 'layers'");
            diffIds = OciJson.StringList(rootfs, "diff_ids", what) ?? [];
        }
        return new ImageConfig
        {
            Json = json,
            Architecture = OciJson.String(root, "architecture", what),
            Os = OciJson.String(root, "os", what),
            OsVersion = OciJson.LenientString(root, "os.version"),
            Variant = OciJson.String(root, "variant", what),
            Created = OciJson.String(root, "created", what),
            Author = OciJson.String(root, "author", what),
            User = cfg is { } c1 ? OciJson.String(c1, "User", what) : null,
            Env = cfg is { } c2 ? OciJson.StringList(c2, "Env", what) ?? [] : [],
            Entrypoint = cfg is { } c3 ? Command(c3, "Entrypoint", what) : null,
            Cmd = cfg is { } c4 ? Command(c4, "Cmd", what) : null,
            WorkingDir = cfg is { } c5 ? OciJson.String(c5, "WorkingDir", what) : null,
            ExposedPorts = cfg is { } c6 ? Keys(c6, "ExposedPorts", what) : [],
            Volumes = cfg is { } c7 ? Keys(c7, "Volumes", what) : [],
            Labels = (cfg is { } c8 ? OciJson.StringMap(c8, "Labels", what, keepOthers: true) : null) ?? new Dictionary<string, string>(),
            StopSignal = cfg is { } c9 ? OciJson.String(c9, "StopSignal", what) : null,
            DiffIds = diffIds,
            History = ReadHistory(root),
        };
    }

    /// <summary>A config for a bare layer or tree: linux, no diff_ids, nothing to run.</summary>
    public static ImageConfig Empty(string? architecture = null)
    {
        var json = OciJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("architecture", architecture ?? "amd64");
            w.WriteString("os", "linux");
            w.WriteStartObject("config");
            w.WriteEndObject();
            WriteRootFs(w, []);
            w.WriteEndObject();
        });
        return Parse(json, "empty config");
    }

    /// <summary>
    /// A new config with this one's created time, author, platform and runtime settings (config.*, copied as
    /// written) over other layers: <paramref name="diffIds"/> and <paramref name="history"/> replace the old ones.
    /// Only content-derived values go in, so the same inputs always give the same bytes.
    /// </summary>
    public byte[] WithLayers(IReadOnlyList<string> diffIds, IReadOnlyList<HistoryEntry> history)
    {
        using var source = OciJson.Parse(Json, "image config");
        var runtime = OciJson.Property(source.RootElement, "config") is { ValueKind: JsonValueKind.Object } r ? r : (JsonElement?)null;
        return OciJson.Write(w =>
        {
            w.WriteStartObject();
            OciJson.WriteStringIfSet(w, "created", Created);
            OciJson.WriteStringIfSet(w, "author", Author);
            w.WriteString("architecture", Architecture ?? "amd64");
            w.WriteString("os", Os ?? "linux");
            OciJson.WriteStringIfSet(w, "os.version", OsVersion);
            OciJson.WriteStringIfSet(w, "variant", Variant);
            w.WriteStartObject("config");
            if (runtime is { } rt)
                foreach (var field in RuntimeFields)
                    if (OciJson.Property(rt, field) is { } value)
                    {
                        w.WritePropertyName(field);
                        value.WriteTo(w);
                    }
            w.WriteEndObject();
            WriteRootFs(w, diffIds);
            w.WriteStartArray("history");
            foreach (var h in history)
            {
                w.WriteStartObject();
                OciJson.WriteStringIfSet(w, "created", h.Created);
                OciJson.WriteStringIfSet(w, "created_by", h.CreatedBy);
                OciJson.WriteStringIfSet(w, "comment", h.Comment);
                if (h.EmptyLayer) w.WriteBoolean("empty_layer", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    static void WriteRootFs(Utf8JsonWriter w, IReadOnlyList<string> diffIds)
    {
        w.WriteStartObject("rootfs");
        w.WriteString("type", "layers");
        OciJson.WriteStringList(w, "diff_ids", diffIds);
        w.WriteEndObject();
    }

    static List<string>? Command(JsonElement o, string name, string what) =>
        // Old Docker configs sometimes store a single command as a string.
        OciJson.Property(o, name) is { ValueKind: JsonValueKind.String } single ? [single.GetString()!] : OciJson.StringList(o, name, what);

    static List<string> Keys(JsonElement o, string name, string what)
    {
        if (OciJson.Property(o, name) is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: '{name}' is not an object");
        return v.EnumerateObject().Select(p => p.Name).ToList();
    }

    static List<HistoryEntry> ReadHistory(JsonElement root)
    {
        // Informational only: entries of an unexpected shape are passed over rather than failing the image.
        if (OciJson.Property(root, "history") is not { ValueKind: JsonValueKind.Array } list) return [];
        return list.EnumerateArray().Where(h => h.ValueKind == JsonValueKind.Object)
            .Select(h => new HistoryEntry(OciJson.LenientString(h, "created"), OciJson.LenientString(h, "created_by"),
                OciJson.LenientString(h, "comment"), h.TryGetProperty("empty_layer", out var e) && e.ValueKind == JsonValueKind.True))
            .ToList();
    }
}
