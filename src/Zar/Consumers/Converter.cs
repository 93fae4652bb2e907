using Zar.Overlay;
using Zar.Sources.Layers;

namespace Zar.Consumers;

/// <summary>
/// Converts an image (its layer stack) into filesystem images: one flattened image, or one per layer
/// keeping whiteouts and opaque markers (as OCI whiteout files in zar, as overlayfs stores them in EROFS)
/// so that stacking the per-layer images gives the merged tree.
/// </summary>
public static class Converter
{
    /// <summary>Flattens the stack into one image. zar is written in one streaming pass over the layers (data in layer order).</summary>
    public static WrittenImage Flatten(LayerStack stack, string output, ImageFormat format, ImageWriteOptions? options = null) =>
        ImageWriter.Write(stack.Merged, output, format, (options ?? new ImageWriteOptions()) with { SequentialBlobs = stack.Blobs });

    /// <summary>
    /// Writes one image per layer into a directory, bottom layer first in the returned list; names sort
    /// bottom to top (see <see cref="LayerFileName"/>). EROFS layers always store whiteouts as overlayfs does.
    /// </summary>
    public static IReadOnlyList<WrittenImage> PerLayer(LayerStack stack, string directory, ImageFormat format, ImageWriteOptions? options = null,
        Func<int, IProgress<long>?>? progressFor = null)
    {
        options ??= new ImageWriteOptions();
        Directory.CreateDirectory(directory);
        var files = new List<WrittenImage>();
        for (int i = 0; i < stack.Layers.Count; i++)
        {
            var path = Path.Combine(directory, LayerFileName.For(i, stack.Layers.Count, stack.Layers[i].DiffId ?? stack.Layers[i].Digest, format.Name()));
            var layer = stack.GetLayer(i, WhiteoutFormat.Aufs);
            files.Add(ImageWriter.Write(layer, path, format, options with { OverlayWhiteouts = true, SequentialBlobs = stack.Blobs, Progress = progressFor?.Invoke(i) }));
        }
        return files;
    }
}
