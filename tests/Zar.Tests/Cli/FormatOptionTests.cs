using Zar.Tests.Support;
using Zar.Tests.Formats.Zar;

namespace Zar.Tests.Cli;

/// <summary>--format and inspect as a user meets them: one line naming the valid formats; any image described.</summary>
public class FormatOptionTests
{
    [Theory]
    [InlineData("create", "{src}", "-o", "{out}", "--format", "squashfs")]
    [InlineData("convert", "tar:{src}", "-o", "{out}", "--format", "ZAR")]
    public void AnUnknownFormatIsOneLineNamingTheValidOnes(params string[] template)
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["src"]);
        var r = ZarCli.Run(template.Select(a => a.Replace("{src}", t["src"]).Replace("{out}", t["out"])).ToArray());
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.Matches("^zar: --format: unknown image format '(squashfs|ZAR)': expected zar or erofs", r.Err);
        Assert.False(File.Exists(t["out"]));
    }

    [Fact]
    public void CreateWritesEachFormatAndInspectDescribesIt()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 4);
        var zar = ZarCli.Run("create", t["src"], "-o", t["i.zar"]);
        Assert.True(zar.Code == 0, zar.Err);
        Assert.StartsWith($"{t["i.zar"]}: ", zar.Out);
        Assert.Contains("duplicate files", zar.Out);
        var erofs = ZarCli.Run("create", t["src"], "--format", "erofs", "-o", t["i.erofs"]);
        Assert.True(erofs.Code == 0, erofs.Err);
        Assert.StartsWith($"{t["i.erofs"]}: EROFS, ", erofs.Out);

        Assert.Matches(@"(?m)^format: +zar \d+\.\d+$", ZarCli.Run("inspect", t["i.zar"]).Out);
        Assert.Matches("(?m)^format: +EROFS$", ZarCli.Run("inspect", t["i.erofs"]).Out);
        var dir = ZarCli.Run("inspect", t["src"]);
        Assert.Matches("^source: +", dir.Out);
        Assert.Contains("entries:", dir.Out);
    }
}
