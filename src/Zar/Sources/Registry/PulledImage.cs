namespace Zar.Sources.Registry;

/// <summary>An image whose manifest, config and layers are verified files in a blob cache (an OCI layout).</summary>
public sealed class PulledImage
{
    public required ResolvedImage Image { get; init; }
    public required string ManifestPath { get; init; }
    public required string ConfigPath { get; init; }
    /// <summary>Layer blob files, base layer first (manifest order).</summary>
    public required IReadOnlyList<string> LayerPaths { get; init; }
    /// <summary>The cache root, which is also an OCI image layout holding this image under <see cref="RefName"/>.</summary>
    public required string LayoutDirectory { get; init; }
    public required string RefName { get; init; }
}
