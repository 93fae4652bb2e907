using Zar.Oci;

namespace Zar.Sources.Images;

/// <summary>
/// A container image as a config plus an ordered layer list, wherever it lives (docker save archive,
/// OCI layout, OCI archive, a registry, a lone layer tar). Layers are raw blobs: compressed or not,
/// the consumer sniffs (see <c>Zar.Sources.Tar.LayerStream</c>); nothing is extracted.
/// </summary>
public interface IImageSource : IDisposable
{
    /// <summary>For messages: "oci layout /srv/img:latest", "docker-archive x.tar".</summary>
    string Description { get; }

    ImageConfig Config { get; }

    /// <summary>Bottom layer first (the order they are applied in).</summary>
    IReadOnlyList<ImageLayer> Layers { get; }

    /// <summary>Digest of the image manifest when there is one (OCI, registry), else null.</summary>
    string? ManifestDigest { get; }
}
