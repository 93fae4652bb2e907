using Zar.Consumers;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Zar;

/// <summary>The whole "every case" tree through a zar image and back out again, compared by Differ and by `zar diff`.</summary>
public class RoundTripTests
{
    [Fact]
    public void EveryCaseTreeSurvivesImageAndExtraction()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        TreeFixture.CreateEverything(t["src"], new TreeOptions { Large = true });
        ZarWriteResult result;
        using (var src = new HostDirectory(t["src"])) result = ZarBuilder.Create(src, t["img.zar"]);
        Assert.True(result.HoleBytes > 2L << 30, $"holes not stored: {result.HoleBytes}");
        Assert.True(new FileInfo(t["img.zar"]).Length < 64 << 20, "the sparse file's holes were written as data");

        using (var src = new HostDirectory(t["src"]))
        using (var img = ZarImage.Open(t["img.zar"]))
        {
            Assert.Empty(Differ.Compare(src, img));
            Extractor.Extract(img, t["out"]);
        }
        using (var src = new HostDirectory(t["src"]))
        using (var back = new HostDirectory(t["out"]))
            Assert.Empty(Differ.Compare(src, back, new DiffOptions { IgnoreRootAttributes = true }));

        // The same through the CLI, as a user runs it.
        var cli = ZarCli.Run("diff", t["src"], t["img.zar"]);
        Assert.True(cli.Code == 0, cli.Out + cli.Err);
        Assert.Equal(0, ZarCli.Run("extract", t["img.zar"], t["out2"]).Code);
        var cli2 = ZarCli.Run("diff", "--ignore-root", t["src"], t["out2"]);
        Assert.True(cli2.Code == 0, cli2.Out + cli2.Err);
    }

    [Fact]
    public void DiffReportsAChangedImageWithExit1()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 4);
        Assert.Equal(0, ZarCli.Run("create", t["src"], "-o", t["img.zar"]).Code);
        File.AppendAllText(t["src/same2"], "changed");
        Tools.Sh($"chmod 600 '{t["src/a/f000"]}'");
        var r = ZarCli.Run("diff", t["src"], t["img.zar"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("same2", r.Out);
        Assert.Contains("a/f000", r.Out);
    }
}
