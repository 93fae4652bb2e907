using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// The small JSON vocabulary the OCI types read and write with: lookups that treat an explicit null like an
/// absent field, typed getters whose errors name the document and the field, and compact or indented output.
/// </summary>
static class OciJson
{
    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, string what)
    {
        try { return JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new ZarFormatException($"{what}: invalid JSON ({e.Message})", e); }
    }

    public static JsonElement RequireObject(JsonElement e, string what, string thing) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new ZarFormatException($"{what}: {thing} is not a JSON object");

    public static JsonElement? Property(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary>A string field; absent or null gives null, another type is an error.</summary>
    public static string? String(JsonElement obj, string name, string what) => Property(obj, name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw new ZarFormatException($"{what}: '{name}' is not a string")
        : null;

    /// <summary>A string field where a value of another type is ignored (fields that only serve as hints).</summary>
    public static string? LenientString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static List<string>? StringList(JsonElement obj, string name, string what)
    {
        if (Property(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Array) throw new ZarFormatException($"{what}: '{name}' is not a list");
        return v.EnumerateArray()
            .Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw new ZarFormatException($"{what}: '{name}' holds a non-string"))
            .ToList();
    }

    /// <summary>String values of an object field (annotations, labels); others are kept as their JSON text when <paramref name="keepOthers"/>.</summary>
    public static Dictionary<string, string>? StringMap(JsonElement obj, string name, string what, bool keepOthers = false)
    {
        if (Property(obj, name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: '{name}' is not an object");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind == JsonValueKind.String) map[p.Name] = p.Value.GetString()!;
            else if (keepOthers) map[p.Name] = p.Value.GetRawText();
        }
        return map;
    }

    public static byte[] Write(Action<Utf8JsonWriter> write, bool indented = false)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented })) write(w);
        return buffer.ToArray();
    }

    public static void WriteStringIfSet(Utf8JsonWriter w, string name, string? value)
    {
        if (value != null) w.WriteString(name, value);
    }

    public static void WriteStringList(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    public static void WriteStringMapIfSet(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string>? map)
    {
        if (map is null || map.Count == 0) return;
        w.WriteStartObject(name);
        foreach (var (k, v) in map) w.WriteString(k, v);
        w.WriteEndObject();
    }
}
