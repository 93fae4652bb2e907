using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// A manifest or an index exactly as stored or served: <see cref="Bytes"/> hash to <see cref="Digest"/> and are
/// never re-serialized (a digest is over these bytes). Whether it is an index or a manifest is decided once, by
/// <see cref="DetectMediaType"/>, for the registry client and the OCI layout reader alike.
/// </summary>
public sealed class ManifestDocument(byte[] bytes, string mediaType, string digest)
{
    public byte[] Bytes { get; } = bytes;
    public string MediaType { get; } = mediaType;
    public string Digest { get; } = digest;
    public bool IsIndex => MediaTypes.IsIndex(MediaType);
    public Descriptor Descriptor => new(MediaType, Digest, Bytes.Length);

    /// <summary>Reads verified bytes; <paramref name="declaredMediaType"/> is what the referrer said (descriptor or HTTP Content-Type).</summary>
    public static ManifestDocument Read(byte[] bytes, string? declaredMediaType, string digest, string what) =>
        new(bytes, DetectMediaType(bytes, declaredMediaType, what), digest);

    public ImageIndex AsIndex(string what) => IsIndex ? ImageIndex.Parse(Bytes, what)
        : throw new ZarFormatException($"{what}: is a manifest ({MediaType}), not an index");

    public ImageManifest AsManifest(string what) => !IsIndex ? ImageManifest.Parse(Bytes, what)
        : throw new ZarFormatException($"{what}: is an index ({MediaType}), not an image manifest");

    /// <summary>
    /// Index vs manifest: by the body's <c>mediaType</c> when present, else by the declared type, else by shape
    /// (<c>manifests</c> vs <c>layers</c>/<c>config</c>), because <c>mediaType</c> is optional in older OCI
    /// manifests. Docker schema 1 is refused. The result may be a type we do not read (the caller decides).
    /// </summary>
    public static string DetectMediaType(byte[] bytes, string? declaredMediaType, string what)
    {
        using var doc = OciJson.Parse(bytes, what);
        var root = OciJson.RequireObject(doc.RootElement, what, "manifest");
        var schema1 = new ZarNotSupportedException($"{what}: Docker schema 1 manifests are not supported");
        if (root.TryGetProperty("schemaVersion", out var sv) && sv.ValueKind == JsonValueKind.Number && sv.TryGetInt32(out int v) && v == 1)
            throw schema1;
        var bodyType = OciJson.LenientString(root, "mediaType");
        if (bodyType != null) return MediaTypes.IsSchema1(bodyType) ? throw schema1 : bodyType;
        var declared = MediaTypes.Bare(declaredMediaType);
        if (MediaTypes.IsSchema1(declared)) throw schema1;
        bool hasManifests = root.TryGetProperty("manifests", out _), hasLayers = root.TryGetProperty("layers", out _);
        if (hasManifests && !hasLayers) return MediaTypes.IsIndex(declared) ? declared! : MediaTypes.OciIndex;
        if (hasLayers || root.TryGetProperty("config", out _)) return MediaTypes.IsManifest(declared) ? declared! : MediaTypes.OciManifest;
        if (MediaTypes.IsIndex(declared) || MediaTypes.IsManifest(declared)) return declared!;
        throw new ZarFormatException($"{what}: neither an image manifest nor an index (no mediaType, layers or manifests)");
    }
}
