using Zar.Oci;

namespace Zar.Sources.Registry;

/// <summary>An image manifest chosen for a platform, with its verified config.</summary>
public sealed class ResolvedImage
{
    public required RegistryReference Reference { get; init; }
    public required ManifestDocument Manifest { get; init; }
    public required ImageManifest Parsed { get; init; }
    public required ImageConfig Config { get; init; }
    public byte[] ConfigBytes => Config.Json;
    /// <summary>Digests of the indexes walked from the reference to the manifest (empty when the reference named a manifest).</summary>
    public required IReadOnlyList<string> IndexDigests { get; init; }
    public Platform? Platform => Config.Platform;
    public IReadOnlyList<Descriptor> Layers => Parsed.Layers;
}
