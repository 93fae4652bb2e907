using Zar.Tests.Support;

using Zar.Tests.Formats.Zar;

namespace Zar.Tests.Cli;

public class CliTests
{
    [Fact]
    public void SeedFlagsWriteAndReadBackTheTree()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["src/dir"]);
        File.WriteAllText(t["src/dir/hello.txt"], "hello world\n");
        File.WriteAllText(t["src/top.txt"], "top\n");
        File.CreateSymbolicLink(t["src/link"], "dir/hello.txt");

        var w = ZarCli.RunIn(t.Path, "-w", "-dir=src", "-pagealign");
        Assert.True(w.Code == 0, w.Err);
        Assert.True(File.Exists(t["test.img"]), "default output is test.img");

        var r = ZarCli.RunIn(t.Path, "-r");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(new[] { "[folder] dir", "[regular file] dir/hello.txt", "[symlink] link -> dir/hello.txt", "[regular file] top.txt" },
            r.Out.TrimEnd('\n').Split('\n'));

        var d = ZarCli.RunIn(t.Path, "--r", "--img", "test.img", "-detail");
        Assert.True(d.Code == 0, d.Err);
        Assert.Equal("[folder] dir\n[regular file] dir/hello.txt\nhello world\n\n[symlink] link -> dir/hello.txt\n[regular file] top.txt\ntop\n\n", d.Out);

        // -flag value, two dashes, explicit output; page alignment only when asked (the seed's default).
        var w2 = ZarCli.RunIn(t.Path, "--w", "--dir", "src", "-o", "tight.img");
        Assert.True(w2.Code == 0, w2.Err);
        Assert.True(new FileInfo(t["tight.img"]).Length < new FileInfo(t["test.img"]).Length);
        Assert.Equal(r.Out, ZarCli.RunIn(t.Path, "-r", "-img=tight.img").Out);
    }

    [Fact]
    public void CommandsListCatAndInspect()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 6);
        Assert.Equal(0, ZarCli.Run("create", t["src"], "-o", t["i.zar"]).Code);
        var ls = ZarCli.Run("ls", t["i.zar"]);
        Assert.Equal(0, ls.Code);
        Assert.Equal(new[] { "a", "fifo", "link", "same1", "same2" }, ls.Out.TrimEnd('\n').Split('\n'));
        var ll = ZarCli.Run("ls", "-l", t["i.zar"], "/a/b");
        Assert.Contains("-rw-r--r--", ll.Out);
        var json = ZarCli.Run("ls", "--json", t["i.zar"], "same1");
        Assert.Contains("\"user.k\": \"AP8A\"", json.Out);
        var cat = ZarCli.Run("cat", t["i.zar"], "/same1");
        Assert.Equal("identical content\n", cat.Out);
        var inspect = ZarCli.Run("inspect", t["i.zar"]);
        Assert.Contains("dedup saving:", inspect.Out);
        Assert.Contains("18 bytes", inspect.Out);
    }

    [Theory]
    [InlineData("ls", "{missing}")]
    [InlineData("ls", "{garbage}")]
    [InlineData("cat", "{image}", "/nope")]
    [InlineData("cat", "{image}", "/a")]
    [InlineData("ls", "{image}", "/../../etc")]
    [InlineData("create", "{missing}", "-o", "{out}")]
    [InlineData("bogus-command")]
    [InlineData("-w")]
    [InlineData("-r", "-img", "{garbage}")]
    public void BadInputGivesOneLineAndExit2(params string[] template)
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 2);
        Assert.Equal(0, ZarCli.Run("create", t["src"], "-o", t["i.zar"]).Code);
        File.WriteAllText(t["garbage"], new string('z', 10000));
        var args = template.Select(a => a.Replace("{missing}", t["missing"]).Replace("{garbage}", t["garbage"])
            .Replace("{image}", t["i.zar"]).Replace("{out}", t["out.zar"])).ToArray();
        var r = ZarCli.Run(args);
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("zar: ", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.False(File.Exists(t["out.zar"]));
    }
}
