using Zar.Consumers;
using Zar.Model;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>Sizes in headers checked against what the target format can hold, before any work (issue finding 3).</summary>
public sealed class SizeLimitTests
{
    [Fact]
    public void SparseFileClaiming2Pow62ToErofsIsOneLineNamingTheFile()
    {
        using var t = new TempDir();
        var tar = HostileTars.Write(t, "huge.tar", HostileTars.SparseFile("huge", 3, claimedSize: 1L << 62));
        using var stack = HostileTars.Open(tar);
        var e = Assert.ThrowsAny<ZarException>(() => Converter.Flatten(stack, t["out.erofs"], ImageFormat.Erofs));
        Assert.Contains("huge", e.Message);
        Assert.False(File.Exists(t["out.erofs"]));
    }

    [Fact]
    public void SparseFileClaiming2Pow62IsExitTwoInEveryCommand()
    {
        using var t = new TempDir();
        var tar = HostileTars.Write(t, "huge.tar", HostileTars.SparseFile("huge", 3, claimedSize: 1L << 62));
        var erofs = ZarCli.Run("convert", tar, "--format", "erofs", "-o", t["out.erofs"]);
        Assert.True(erofs.Code == 2, $"exit {erofs.Code}: {erofs.Err}");
        Assert.Contains("huge", erofs.Err);
        Assert.Contains("can hold", erofs.Err);
        Assert.Single(erofs.Err.Trim().Split('\n'));
        Assert.False(File.Exists(t["out.erofs"]));
        var extract = ZarCli.Run("extract", tar, t["x"]);
        Assert.True(extract.Code == 2, $"exit {extract.Code}: {extract.Err}");
        // zar holds 64-bit sizes: the file converts and reads back as holes.
        var zar = ZarCli.Run("convert", tar, "-o", t["out.zar"]);
        Assert.True(zar.Code == 0, zar.Err);
    }
}
