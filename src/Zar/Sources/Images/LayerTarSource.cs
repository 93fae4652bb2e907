using Zar.Blobs;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Images;

/// <summary>A single layer tar (plain, gzip or zstd) as a one-layer image with an empty config.</summary>
sealed class LayerTarSource : IImageSource
{
    public LayerTarSource(string path)
    {
        if (!File.Exists(path)) throw new ZarNotFoundException($"{path}: no such file");
        Description = $"tar:{path}";
        var whole = new FileWindow(path, 0, new FileInfo(path).Length);
        Layers = [new ImageLayer(null, MediaTypes.OciLayer, whole.Length, null, Description, () => whole.Open(Description), () => whole)];
    }

    public string Description { get; }
    public ImageConfig Config { get; } = ImageConfig.Empty();
    public IReadOnlyList<ImageLayer> Layers { get; }
    public string? ManifestDigest => null;
    public void Dispose() { }
}
