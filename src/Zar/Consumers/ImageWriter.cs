using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.IO;
using Zar.Model;
using Zar.Overlay;

namespace Zar.Consumers;

/// <summary>The image formats a tree can be written as.</summary>
public enum ImageFormat { Zar, Erofs }

public static class ImageFormats
{
    public static IReadOnlyList<ImageFormat> All { get; } = Enum.GetValues<ImageFormat>();

    /// <summary>The format's name as users write it (<c>--format erofs</c>), which is also its file extension.</summary>
    public static string Name(this ImageFormat format) => format.ToString().ToLowerInvariant();

    public static bool TryParse(string? name, out ImageFormat format)
    {
        foreach (var f in All)
            if (f.Name() == name) { format = f; return true; }
        format = default;
        return false;
    }

    public static ImageFormat Parse(string? name) =>
        TryParse(name, out var format) ? format : throw new ZarException(UnknownName(name));

    /// <summary>One line naming the valid formats.</summary>
    public static string UnknownName(string? name) =>
        $"unknown image format '{name}': expected {string.Join(" or ", All.Select(f => f.Name()))}";
}

/// <summary>How to write an image; each setting applies to the formats named on it and is ignored by the others.</summary>
public sealed record ImageWriteOptions
{
    /// <summary>zar: start every file's data at a 4096-byte boundary (mmap-able straight from the image).</summary>
    public bool PageAlign { get; init; } = true;
    /// <summary>zar: store identical contents once.</summary>
    public bool Deduplicate { get; init; } = true;
    /// <summary>EROFS: store OCI whiteouts and opaque markers as overlayfs does (the tree seen through <see cref="OverlayFormView"/>).</summary>
    public bool OverlayWhiteouts { get; init; }
    /// <summary>EROFS: bytes per block, one of <see cref="ErofsWriterOptions.BlockSizes"/> (below 4096 needs kernel 6.4+).</summary>
    public int BlockSize { get; init; } = 4096;
    /// <summary>
    /// zar: blobs that are cheap only front to back (a layer stack's tars, <see cref="Sources.Layers.LayerStack.Blobs"/>):
    /// files are then taken in the order of their bytes, each blob read once (<see cref="StreamingPass"/>),
    /// and zar stores data in that order. Null: files in walk order, read at random.
    /// </summary>
    public IReadOnlyList<IBlob>? SequentialBlobs { get; init; }
    /// <summary>Bytes of file data consumed so far.</summary>
    public IProgress<long>? Progress { get; init; }
    /// <summary>Refuse, before writing, a tree whose data or entries exceed these (the default stops decompression bombs).</summary>
    public ExpansionLimits Limits { get; init; } = ExpansionLimits.Default;
}

/// <summary>An image written to <paramref name="Path"/>: its size, and a one-line summary of what the format's writer reports.</summary>
public sealed record WrittenImage(string Path, ImageFormat Format, long Bytes, string Summary);

/// <summary>Writes any read-only filesystem to a file in a chosen format (under a temporary name, renamed when complete).</summary>
public static class ImageWriter
{
    public static WrittenImage Write(IReadOnlyFileSystem tree, string path, ImageFormat format, ImageWriteOptions? options = null)
    {
        options ??= new ImageWriteOptions();
        options.Limits.Check(tree);
        switch (format)
        {
            case ImageFormat.Erofs:
                var erofs = ErofsWriter.Write(options.OverlayWhiteouts ? new OverlayFormView(tree) : tree, path,
                    new ErofsWriterOptions { BlockSize = options.BlockSize, Progress = options.Progress, MaxImageBytes = options.Limits.MaxBytes });
                return new WrittenImage(path, format, erofs.ImageSize,
                    $"EROFS, {erofs.Inodes} inodes ({erofs.CompactInodes} compact), {erofs.Blocks} blocks of {erofs.BlockSize}, image {erofs.ImageSize} bytes, uuid {erofs.Uuid}");
            case ImageFormat.Zar:
                var zarOptions = new ZarWriterOptions { PageAlign = options.PageAlign, Deduplicate = options.Deduplicate, Progress = options.Progress };
                ZarWriteResult zar;
                using (var file = new AtomicFile(path))
                {
                    zar = WriteZar(tree, file.Stream, zarOptions, options.SequentialBlobs);
                    file.Commit();
                }
                return new WrittenImage(path, format, zar.ImageBytes,
                    $"{zar.EntryCount} entries, {zar.FileCount} files, {zar.LogicalBytes} bytes of file data, {zar.StoredBytes} stored, " +
                    $"{zar.DeduplicatedFiles} duplicate files ({zar.DeduplicatedBytes} bytes) stored once, " +
                    $"{zar.HoleBytes} bytes of holes not stored, image {zar.ImageBytes} bytes");
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, null);
        }
    }

    static ZarWriteResult WriteZar(IReadOnlyFileSystem tree, Stream output, ZarWriterOptions options, IReadOnlyList<IBlob>? sequentialBlobs)
    {
        if (sequentialBlobs == null) return ZarBuilder.Write(tree, output, options);
        // A compressed layer is decompressed once instead of being read at random.
        var writer = new ZarWriter(output, options);
        StreamingPass.Run(tree, (entry, data, stored) => writer.Add(entry, stored, data?.Extents), sequentialBlobs);
        return writer.Finish();
    }
}
