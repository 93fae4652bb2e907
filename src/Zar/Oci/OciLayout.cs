using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// The fixed parts of an OCI image layout (image-spec image-layout.md): the <c>oci-layout</c> marker file,
/// <c>index.json</c>, and where a blob lives (<c>blobs/&lt;alg&gt;/&lt;encoded&gt;</c>). Read by the layout
/// source, written by <see cref="Zar.Blobs.OciLayoutWriter"/>.
/// </summary>
public static class OciLayout
{
    public const string MarkerFile = "oci-layout";
    public const string IndexFile = "index.json";
    public const string Version = "1.0.0";

    /// <summary>
    /// Layout-relative path of a blob. Only valid digests are accepted; their grammar (no '/', every algorithm
    /// component alphanumeric, no '.' in the encoding) keeps the path inside blobs/.
    /// </summary>
    public static string BlobPath(string digest)
    {
        var (algorithm, encoded) = Digest.Split(Digest.Validate(digest, "blob path"));
        return $"blobs/{algorithm}/{encoded}";
    }

    /// <summary>The <c>oci-layout</c> file's content.</summary>
    public static byte[] MarkerJson() => OciJson.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("imageLayoutVersion", Version);
        w.WriteEndObject();
    });

    /// <summary>Checks an <c>oci-layout</c> file: only version 1.0.0 exists (containerd refuses others too).</summary>
    public static void CheckMarker(byte[] json, string what)
    {
        using var doc = OciJson.Parse(json, $"{what}: {MarkerFile}");
        var version = doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
            && doc.RootElement.TryGetProperty("imageLayoutVersion", out var v) ? v.ToString() : null;
        if (version != Version) throw new ZarNotSupportedException($"{what}: oci-layout version '{version}' is not supported ({Version})");
    }
}
