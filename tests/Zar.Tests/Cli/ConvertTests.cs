using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Tests.Sources.Images;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using Zar.Sources;

namespace Zar.Tests.Cli;

/// <summary>`zar convert` as a user runs it: flattened and per-layer, zar and EROFS, checked against the merged image and the kernel.</summary>
public class ConvertTests
{
    static string Layout(TempDir t)
    {
        var dir = t["oci"];
        ImageFixtures.OciLayout(dir, ImageFixtures.SampleLayers(), new[] { Compression.Gzip, Compression.Zstd, Compression.None });
        return $"oci:{dir}:latest";
    }

    [Theory]
    [InlineData("zar")]
    [InlineData("erofs")]
    public void FlattenedImageEqualsTheMergedLayers(string format)
    {
        using var t = new TempDir();
        var image = Layout(t);
        var r = ZarCli.Run("convert", image, "--format", format, "-o", t["flat." + format]);
        Assert.True(r.Code == 0, r.Err);
        using var merged = SourceOpener.OpenFileSystem(image);
        using var flat = format == "zar" ? (global::Zar.Model.IReadOnlyFileSystem)ZarImage.Open(t["flat.zar"]) : ErofsImage.Open(t["flat.erofs"]);
        Assert.Empty(Differ.Compare(merged, flat));
        // Image references work in every command.
        Assert.Equal("ID=zar\n", ZarCli.Run("cat", image, "/etc/os-release").Out);
        Assert.Equal(0, ZarCli.Run("diff", image, t["flat." + format]).Code);
    }

    [Fact]
    public void PerLayerNamesSortBottomToTopAndKeepWhiteouts()
    {
        using var t = new TempDir();
        var image = Layout(t);
        var r = ZarCli.Run("convert", image, "--per-layer", t["layers"]);
        Assert.True(r.Code == 0, r.Err);
        var files = Directory.GetFiles(t["layers"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        using var stack = SourceOpener.OpenStack(image);
        Assert.Equal(stack.Layers.Select((l, i) => $"{i + 1:D2}-{l.DiffId![7..19]}.zar"), files);
        using var second = ZarImage.Open(Path.Combine(t["layers"], files[1]!));
        Assert.NotNull(second.Lookup("etc/.wh.hosts"));
        Assert.NotNull(second.Lookup("var/cache/.wh..wh..opq"));
    }

    [Fact]
    public void PerLayerErofsImagesStackedByOverlayfsEqualTheFlattenedErofsImage()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var image = Layout(t);
        Assert.Equal(0, ZarCli.Run("convert", image, "--format", "erofs", "--per-layer", t["layers"]).Code);
        Assert.Equal(0, ZarCli.Run("convert", image, "--format", "erofs", "-o", t["flat.erofs"]).Code);
        var layers = Directory.GetFiles(t["layers"]).Order(StringComparer.Ordinal).ToArray();
        var mounts = new List<string>();
        try
        {
            for (int i = 0; i < layers.Length; i++)
            {
                var m = t[$"m{i}"];
                Directory.CreateDirectory(m);
                Tools.Sh($"mount -t erofs -o loop,ro '{layers[i]}' '{m}'");
                mounts.Add(m);
            }
            Directory.CreateDirectory(t["flatm"]);
            Tools.Sh($"mount -t erofs -o loop,ro '{t["flat.erofs"]}' '{t["flatm"]}'");
            mounts.Add(t["flatm"]);
            Directory.CreateDirectory(t["ovl"]);
            var lower = string.Join(':', mounts.Take(layers.Length).Reverse());
            Tools.Sh($"mount -t overlay overlay -o ro,lowerdir={lower} '{t["ovl"]}'");
            mounts.Add(t["ovl"]);
            using var overlay = new HostDirectory(t["ovl"]);
            using var flatMount = new HostDirectory(t["flatm"]);
            using var merged = SourceOpener.OpenFileSystem(image);
            var options = new DiffOptions { IgnoreRootAttributes = true, IgnoreOverlayXattrs = true };
            Assert.Empty(Differ.Compare(flatMount, overlay, options).Select(d => d.ToString()));
            Assert.Empty(Differ.Compare(merged, overlay, options).Select(d => d.ToString()));
        }
        finally
        {
            for (int i = mounts.Count - 1; i >= 0; i--) Tools.Run("umount", new[] { mounts[i] });
        }
    }

    [Fact]
    public void CfsCommandWritesLayerImagesDockerfileAndTheOciImage()
    {
        Tools.Require("skopeo");
        using var t = new TempDir();
        var image = Layout(t);
        var r = ZarCli.Run("cfs", image, t["dest"], "--output", $"oci:{t["out"]}:cfs");
        Assert.True(r.Code == 0, r.Err);
        var zars = Directory.GetFiles(t["dest"], "*.zar").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(3, zars.Length);
        var dockerfile = File.ReadAllLines(t["dest/Dockerfile"]);
        Assert.Equal("FROM scratch", dockerfile[0]);
        Assert.Equal(zars.Select(z => $"ADD {z} /"), dockerfile.Skip(1).Take(3));
        var inspect = Tools.Run("skopeo", new[] { "inspect", $"oci:{t["out"]}:cfs" });
        Assert.True(inspect.Code == 0, inspect.Err);
        Assert.Equal(3, System.Text.Json.JsonDocument.Parse(inspect.Out).RootElement.GetProperty("Layers").GetArrayLength());
    }
}
