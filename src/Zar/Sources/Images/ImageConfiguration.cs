using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Images;

/// <summary>
/// The image config JSON (OCI image-spec config.md, Docker image v1.2), parsed into the fields a runtime or a
/// Dockerfile needs. <see cref="Json"/> keeps the exact bytes (its sha256 is the image ID).
/// </summary>
public sealed class ImageConfiguration
{
    public required byte[] Json { get; init; }
    /// <summary>sha256 digest of <see cref="Json"/>.</summary>
    public string Digest => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Json));
    public string? Architecture { get; init; }
    public string? Os { get; init; }
    public string? Variant { get; init; }
    public string? Created { get; init; }
    public string? Author { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string> Env { get; init; } = Array.Empty<string>();
    /// <summary>null when not set (different from an explicit empty list, which clears a base image's value).</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public string? WorkingDir { get; init; }
    /// <summary>"80/tcp", "53/udp", ... (keys of config.ExposedPorts).</summary>
    public IReadOnlyList<string> ExposedPorts { get; init; } = Array.Empty<string>();
    /// <summary>Keys of config.Volumes.</summary>
    public IReadOnlyList<string> Volumes { get; init; } = Array.Empty<string>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? StopSignal { get; init; }
    /// <summary>rootfs.diff_ids: digests of the uncompressed layer tars, bottom first.</summary>
    public IReadOnlyList<string> DiffIds { get; init; } = Array.Empty<string>();

    /// <summary>A config for a bare layer or tree: linux, no diff_ids, nothing to run.</summary>
    public static ImageConfiguration Empty(string? architecture = null)
    {
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["architecture"] = architecture ?? "amd64",
            ["os"] = "linux",
            ["config"] = new Dictionary<string, object>(),
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = Array.Empty<string>() },
        }));
        return Parse(json, "empty config");
    }

    public static ImageConfiguration Parse(byte[] json, string what)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new ZarFormatException($"{what}: image config is not valid JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: image config is not a JSON object");
            var cfg = Prop(root, "config");
            if (cfg is { ValueKind: not JsonValueKind.Object }) cfg = null;
            var rootfs = Prop(root, "rootfs");
            var diffIds = new List<string>();
            if (rootfs is { ValueKind: JsonValueKind.Object } rf)
            {
                var type = Str(rf, "type");
                if (type != "layers") throw new ZarFormatException($"{what}: rootfs.type is '{type}', expected 'layers'");
                if (Prop(rf, "diff_ids") is { ValueKind: JsonValueKind.Array } ids)
                    foreach (var id in ids.EnumerateArray())
                        diffIds.Add(id.ValueKind == JsonValueKind.String ? id.GetString()! : throw new ZarFormatException($"{what}: rootfs.diff_ids holds a non-string"));
            }
            try
            {
                return new ImageConfiguration
                {
                    Json = json,
                    Architecture = Str(root, "architecture"),
                    Os = Str(root, "os"),
                    Variant = Str(root, "variant"),
                    Created = Str(root, "created"),
                    Author = Str(root, "author"),
                    User = cfg is { } c1 ? Str(c1, "User") : null,
                    Env = cfg is { } c2 ? StrList(c2, "Env") ?? new List<string>() : new List<string>(),
                    Entrypoint = cfg is { } c3 ? StrList(c3, "Entrypoint") : null,
                    Cmd = cfg is { } c4 ? StrList(c4, "Cmd") : null,
                    WorkingDir = cfg is { } c5 ? Str(c5, "WorkingDir") : null,
                    ExposedPorts = cfg is { } c6 ? Keys(c6, "ExposedPorts") : new List<string>(),
                    Volumes = cfg is { } c7 ? Keys(c7, "Volumes") : new List<string>(),
                    Labels = cfg is { } c8 ? StrMap(c8, "Labels") : new Dictionary<string, string>(),
                    StopSignal = cfg is { } c9 ? Str(c9, "StopSignal") : null,
                    DiffIds = diffIds,
                };
            }
            catch (InvalidOperationException e)
            {
                throw new ZarFormatException($"{what}: image config has a field of the wrong type ({e.Message})", e);
            }
        }
    }

    static JsonElement? Prop(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    static string? Str(JsonElement o, string name) => Prop(o, name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InvalidOperationException($"{name} is not a string")
        : null;

    static List<string>? StrList(JsonElement o, string name)
    {
        if (Prop(o, name) is not { } v) return null;
        // Old Docker configs sometimes store a single command as a string.
        if (v.ValueKind == JsonValueKind.String) return new List<string> { v.GetString()! };
        if (v.ValueKind != JsonValueKind.Array) throw new InvalidOperationException($"{name} is not a list");
        return v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw new InvalidOperationException($"{name} holds a non-string")).ToList();
    }

    static List<string> Keys(JsonElement o, string name)
    {
        if (Prop(o, name) is not { } v) return new List<string>();
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidOperationException($"{name} is not an object");
        return v.EnumerateObject().Select(p => p.Name).ToList();
    }

    static Dictionary<string, string> StrMap(JsonElement o, string name)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Prop(o, name) is not { } v) return map;
        if (v.ValueKind != JsonValueKind.Object) throw new InvalidOperationException($"{name} is not an object");
        foreach (var p in v.EnumerateObject())
            map[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        return map;
    }
}
