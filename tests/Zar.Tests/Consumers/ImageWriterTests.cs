using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Images;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using Zar.Tests.Formats.Zar;

namespace Zar.Tests.Consumers;

/// <summary>The one entry point that writes a tree in a chosen format, and the one list of format names.</summary>
public class ImageWriterTests
{
    [Theory]
    [InlineData(ImageFormat.Zar)]
    [InlineData(ImageFormat.Erofs)]
    public void WritesTheTreeInTheChosenFormatAndTheImageDescribesItself(ImageFormat format)
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 8);
        using var src = new HostDirectory(t["src"]);
        var path = t["img." + format.Name()];
        var written = ImageWriter.Write(src, path, format);

        Assert.Equal(path, written.Path);
        Assert.Equal(format, written.Format);
        Assert.Equal(new FileInfo(path).Length, written.Bytes);
        Assert.Contains($"image {written.Bytes} bytes", written.Summary);
        using IReadOnlyFileSystem image = format == ImageFormat.Zar ? ZarImage.Open(path) : ErofsImage.Open(path);
        Assert.Empty(Differ.Compare(src, image));

        var description = Inspection.Describe(image);
        Assert.IsAssignableFrom<IDescribeImage>(image);
        Assert.StartsWith(format == ImageFormat.Zar ? "zar " : "EROFS", description.Single(kv => kv.Key == "format").Value);
    }

    [Fact]
    public void ZarOptionsReachTheWriter()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 8);
        using var src = new HostDirectory(t["src"]);
        var aligned = ImageWriter.Write(src, t["aligned.zar"], ImageFormat.Zar);
        var tight = ImageWriter.Write(src, t["tight.zar"], ImageFormat.Zar, new ImageWriteOptions { PageAlign = false, Deduplicate = false });
        Assert.True(tight.Bytes < aligned.Bytes);
        Assert.Contains("1 duplicate files", aligned.Summary);
        Assert.Contains("0 duplicate files", tight.Summary);
    }

    [Theory]
    [InlineData(ImageFormat.Zar)]
    [InlineData(ImageFormat.Erofs)]
    public void ConverterWritesEachLayerTreeAndTheMergedTreeThroughIt(ImageFormat format)
    {
        using var t = new TempDir();
        ImageFixtures.OciLayout(t["oci"], ImageFixtures.SampleLayers(), [Compression.Gzip, Compression.Zstd, Compression.None]);
        using var stack = SourceOpener.OpenStack($"oci:{t["oci"]}:latest");
        var layers = Converter.PerLayer(stack, t["layers"], format);
        Assert.Equal(stack.Layers.Count, layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            Assert.EndsWith("." + format.Name(), layers[i].Path);
            using IReadOnlyFileSystem image = format == ImageFormat.Zar ? ZarImage.Open(layers[i].Path) : ErofsImage.Open(layers[i].Path);
            // EROFS stores the layer's whiteouts as overlayfs does; zar keeps the OCI whiteout files.
            var layer = stack.GetLayer(i, format == ImageFormat.Zar ? WhiteoutFormat.Aufs : WhiteoutFormat.Overlay);
            Assert.Empty(Differ.Compare(layer, image, new DiffOptions { IgnoreOverlayXattrs = format == ImageFormat.Erofs }));
        }
        var flat = Converter.Flatten(stack, t["flat." + format.Name()], format);
        using IReadOnlyFileSystem flattened = format == ImageFormat.Zar ? ZarImage.Open(flat.Path) : ErofsImage.Open(flat.Path);
        Assert.Empty(Differ.Compare(stack.Merged, flattened));
    }

    [Fact]
    public void ATreeWithoutAnImageFormatIsDescribedByItsCounts()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["src/d"]);
        File.WriteAllText(t["src/d/f"], "12345");
        using var src = new HostDirectory(t["src"]);
        var description = Inspection.Describe(src).ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("3", description["entries"]);
        Assert.Equal("5", description["file bytes"]);
    }

    [Fact]
    public void FormatNamesParseInOnePlaceAndAnUnknownNameListsTheValidOnes()
    {
        Assert.Equal(["zar", "erofs"], ImageFormats.All.Select(f => f.Name()));
        foreach (var f in ImageFormats.All) Assert.Equal(f, ImageFormats.Parse(f.Name()));
        var e = Assert.Throws<ZarException>(() => ImageFormats.Parse("squashfs"));
        Assert.Equal("unknown image format 'squashfs': expected zar or erofs", e.Message);
        Assert.False(ImageFormats.TryParse("EROFS", out _));
    }
}
