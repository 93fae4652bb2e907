using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Overlay;

/// <summary>
/// Per-layer images stacked in-process by <see cref="OverlayFileSystem"/>: zar images (AUFS whiteouts), EROFS
/// images (overlayfs whiteouts), and a mix of formats, on the three layers the merge is checked with against
/// the kernel (every whiteout and opaque case, hardlinks across layers). Each stack equals the merged image,
/// and the EROFS stack equals what the kernel's overlayfs makes of the same loop-mounted images.
/// </summary>
public sealed class OverlayStackTests
{
    static LayerStack Layers(TempDir t)
    {
        var files = new[]
        {
            OverlayMergeTests.MakeLayer1(t),
            Write(t, "layer2.tar", OverlayMergeTests.Layer2().Build()),
            Write(t, "layer3.tar", OverlayMergeTests.Layer3().Build()),
        };
        return LayerStack.Open(new FileLayersSource(files));
    }

    static string Write(TempDir t, string name, byte[] bytes)
    {
        File.WriteAllBytes(t[name], bytes);
        return t[name];
    }

    [Fact]
    public void PerLayerZarImagesStackToTheMergedImage()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        using var stack = Layers(t);
        var files = Converter.PerLayer(stack, t["zar"], ImageFormat.Zar);
        using var stacked = new OverlayFileSystem(files.Select(f => ZarImage.Open(f.Path)), "zar layers", ownsLayers: true);
        TreeAssert.Equal(stack.Merged, stacked);
        Assert.Null(stacked.Lookup("opq/b/c"));
        Assert.Null(stacked.Lookup("hl/.wh.a"));
        Assert.Equal("two, the last one wins", System.Text.Encoding.UTF8.GetString(stacked.ReadAllBytes(stacked.Stat("dup"))));
    }

    [Fact]
    public void PerLayerErofsImagesStackToTheMergedImageAndToTheKernelOverlay()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        using var stack = Layers(t);
        var files = Converter.PerLayer(stack, t["erofs"], ImageFormat.Erofs);
        using var stacked = new OverlayFileSystem(files.Select(f => ErofsImage.Open(f.Path)), "EROFS layers", ownsLayers: true);
        TreeAssert.Equal(stack.Merged, stacked);

        // The kernel stacks the same images: our overlay must agree with overlayfs on every attribute.
        var mounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            for (int i = 0; i < files.Count; i++)
            {
                mounts.Add(Mount.Erofs(files[i].Path, t[$"m{i}"]));
                lowers.Insert(0, t[$"m{i}"]);
            }
            var merged = Mount.Overlay(lowers, t["merged"]);
            mounts.Add(merged);
            using var kernel = new HostDirectory(merged.Path);
            TreeAssert.Equal(kernel, stacked, compareRoot: false);
        }
        finally
        {
            for (int i = mounts.Count - 1; i >= 0; i--) mounts[i].Dispose();
        }
    }

    [Fact]
    public void LayersOfDifferentFormatsStack()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        using var stack = Layers(t);
        ZarBuilder.Create(stack.GetLayer(0), t["1.zar"]);
        ErofsWriter.Write(new OverlayFormView(stack.GetLayer(1)), t["2.erofs"]);
        Materialize.To(stack.GetLayer(2, WhiteoutFormat.Overlay), t["3"]);
        IReadOnlyFileSystem[] layers = [ZarImage.Open(t["1.zar"]), ErofsImage.Open(t["2.erofs"]), new HostDirectory(t["3"])];
        using var stacked = new OverlayFileSystem(layers, ownsLayers: true);
        TreeAssert.Equal(stack.Merged, stacked, compareRoot: false);
    }

    [Fact]
    public void StackSpecsOpenInEveryCommand()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        using var stack = Layers(t);
        Converter.PerLayer(stack, t["zar"], ImageFormat.Zar);
        var files = Converter.PerLayer(stack, t["erofs"], ImageFormat.Erofs);
        using (var fromFolder = global::Zar.Sources.SourceOpener.OpenFileSystem($"stack:{t["zar"]}"))
            TreeAssert.Equal(stack.Merged, fromFolder);
        using (var fromList = global::Zar.Sources.SourceOpener.OpenFileSystem("stack:" + string.Join(',', files.Select(f => f.Path))))
            TreeAssert.Equal(stack.Merged, fromList);
        // The CLI takes the same specs: diff of the two stacks finds nothing, ls lists through the overlay.
        var diff = ZarCli.Run("diff", $"stack:{t["zar"]}", $"stack:{t["erofs"]}", "--ignore-overlay-xattrs");
        Assert.True(diff.Code == 0, diff.Out + diff.Err);
        Assert.Equal("again\n", ZarCli.Run("ls", $"stack:{t["zar"]}", "/dirfile").Out);
        var bad = ZarCli.Run("ls", $"stack:{t["noise"]}");
        Assert.Equal(2, bad.Code);
        Assert.Single(bad.Err.Trim().Split('\n'));
    }
}
