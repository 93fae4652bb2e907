using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.IO;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Layers;

namespace Zar.Consumers;

public enum ImageFormat { Zar, Erofs }

public sealed record ConvertedFile(string Path, long Bytes, int? Layer);

/// <summary>
/// Converts an image (its layer stack) into filesystem images: one flattened image, or one per layer
/// keeping whiteouts and opaque markers (as OCI whiteout files in zar, as overlayfs stores them in EROFS)
/// so that stacking the per-layer images gives the merged tree.
/// </summary>
public static class Converter
{
    public static string Extension(ImageFormat f) => f == ImageFormat.Zar ? "zar" : "erofs";

    /// <summary>Flattens the stack into one image. zar is written in one streaming pass over the layers (data in layer order).</summary>
    public static ConvertedFile Flatten(LayerStack stack, string output, ImageFormat format, bool pageAlign = true, IProgress<long>? progress = null)
    {
        if (format == ImageFormat.Erofs)
        {
            var r = ErofsWriter.Write(stack.Merged, output, new ErofsWriterOptions { Progress = progress });
            return new ConvertedFile(output, r.ImageSize, null);
        }
        using var file = new AtomicFile(output);
        var writer = new ZarWriter(file.Stream, new ZarWriterOptions { PageAlign = pageAlign, Progress = progress });
        StreamingPass.Run(stack.Merged, (entry, data, stored) => writer.Add(entry, stored, data?.Extents), stack.Blobs);
        var result = writer.Finish();
        file.Commit();
        return new ConvertedFile(output, result.ImageBytes, null);
    }

    /// <summary>Writes one image per layer into a directory; names sort bottom to top (see <see cref="LayerFileName"/>).</summary>
    public static IReadOnlyList<ConvertedFile> PerLayer(LayerStack stack, string directory, ImageFormat format, bool pageAlign = true,
        Func<int, IProgress<long>?>? progressFor = null)
    {
        Directory.CreateDirectory(directory);
        var files = new List<ConvertedFile>();
        for (int i = 0; i < stack.Layers.Count; i++)
        {
            var path = Path.Combine(directory, LayerFileName.For(i, stack.Layers.Count, stack.Layers[i].DiffId ?? stack.Layers[i].Digest, Extension(format)));
            var layer = stack.GetLayer(i, WhiteoutFormat.Aufs);
            var progress = progressFor?.Invoke(i);
            long bytes = format == ImageFormat.Erofs
                ? ErofsWriter.Write(new OverlayFormView(layer), path, new ErofsWriterOptions { Progress = progress }).ImageSize
                : ZarBuilder.Create(layer, path, new ZarWriterOptions { PageAlign = pageAlign, Progress = progress }).ImageBytes;
            files.Add(new ConvertedFile(path, bytes, i));
        }
        return files;
    }
}
