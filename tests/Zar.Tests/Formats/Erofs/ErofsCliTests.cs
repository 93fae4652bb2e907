using Zar.Formats.Erofs;
using Zar.Sources.Host;
using Zar.Sources;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary><c>zar create/convert --format erofs --block-size N</c>.</summary>
public class ErofsCliTests
{
    [Theory]
    [InlineData(null, 4096)]
    [InlineData("512", 512)]
    [InlineData("1024", 1024)]
    [InlineData("2048", 2048)]
    [InlineData("4096", 4096)]
    public void CreateBlockSizeWritesThatBlockSize(string? option, int expected)
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"], longNames: false);
        string[] args = ["create", "--format", "erofs", tmp["src"], "-o", tmp["img"], .. option == null ? Array.Empty<string>() : ["--block-size", option]];
        var r = ZarCli.Run(args);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains($"blocks of {expected}", r.Out);
        using var image = ErofsImage.Open(tmp["img"]);
        Assert.Equal(expected, image.Superblock.BlockSize);
        using var source = new HostDirectory(tmp["src"]);
        TreeComparer.AssertSame(source, image);
    }

    [Theory]
    [InlineData("create")]
    [InlineData("convert")]
    public void BlockSizeNotSupportedUsageError(string command)
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        var r = ZarCli.Run(command, "--format", "erofs", "--block-size", "3000", tmp["src"], "-o", tmp["img"]);
        Assert.Equal(2, r.Code);
        Assert.Contains("--block-size: expected one of 512, 1024, 2048, 4096", r.Err);
        Assert.False(File.Exists(tmp["img"]));
    }

    [Fact]
    public void ConvertBlockSizeFlatAndPerLayer()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"], longNames: false);
        // A per-layer image keeps whiteouts (char 0/0) that the merged tree applies: leave them out.
        Tools.Sh($"cd '{tmp["src"]}' && rm sock whiteout_like && tar --format=gnu -cf '{tmp["layer.tar"]}' .");
        var r = ZarCli.Run("convert", "tar:" + tmp["layer.tar"], "--format", "erofs", "--block-size", "512", "-o", tmp["flat.erofs"]);
        Assert.True(r.Code == 0, r.Err);
        r = ZarCli.Run("convert", "tar:" + tmp["layer.tar"], "--format", "erofs", "--block-size", "1024", "--per-layer", tmp["layers"]);
        Assert.True(r.Code == 0, r.Err);
        using var stack = SourceOpener.OpenStack("tar:" + tmp["layer.tar"]);
        using (var flat = ErofsImage.Open(tmp["flat.erofs"]))
        {
            Assert.Equal(512, flat.Superblock.BlockSize);
            TreeComparer.AssertSame(stack.Merged, flat);
        }
        using var layer = ErofsImage.Open(Assert.Single(Directory.GetFiles(tmp["layers"])));
        Assert.Equal(1024, layer.Superblock.BlockSize);
        TreeComparer.AssertSame(stack.Merged, layer);
    }
}
