using Zar.Model;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>
/// Finding 4: --reject-unsafe-paths refuses absolute names and absolute or climbing hardlink targets,
/// not only climbing names; without it the same warning is printed by extract and convert.
/// </summary>
public sealed class UnsafePathTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        // layer, raw name the message names, what the message says
        { "absolute-name", "/etc/abs", "absolute name" },
        { "climbing-name", "../up", "climbing" },
        { "absolute-hardlink", "hl-abs", "hardlink to an absolute path /target" },
        { "climbing-hardlink", "hl-up", "hardlink to a climbing" },
    };

    static LayerTarBuilder Layer(string kind) => kind switch
    {
        "absolute-name" => new LayerTarBuilder().File("ok", "x").File("/etc/abs", "a"),
        "climbing-name" => new LayerTarBuilder().File("ok", "x").File("../up", "u"),
        "absolute-hardlink" => new LayerTarBuilder().File("target", "t").Hardlink("hl-abs", "/target"),
        "climbing-hardlink" => new LayerTarBuilder().File("target", "t").Hardlink("hl-up", "../target"),
        _ => throw new ArgumentException(kind),
    };

    static string WriteLayer(TempDir t, string kind)
    {
        var path = t[kind + ".tar"];
        File.WriteAllBytes(path, Layer(kind).Build());
        return path;
    }

    [Theory, MemberData(nameof(Cases))]
    public void RejectPolicyRefusesIt(string kind, string rawName, string says)
    {
        using var t = new TempDir();
        var tar = WriteLayer(t, kind);
        var e = Assert.Throws<ZarFormatException>(() =>
            LayerStack.Open(new FileLayersSource([tar]), new LayerStackOptions { UnsafePaths = UnsafePathPolicy.Reject }));
        Assert.Contains(rawName, e.Message);
        Assert.Contains(says, e.Message);
        Assert.Contains("--reject-unsafe-paths", e.Message);
    }

    [Theory, MemberData(nameof(Cases))]
    public void ClampPolicyKeepsItInsideWithAWarning(string kind, string rawName, string says)
    {
        using var t = new TempDir();
        using var stack = LayerStack.Open(new FileLayersSource([WriteLayer(t, kind)]));
        Assert.Contains(stack.Warnings, w => w.Contains(rawName) && w.Contains(says) && w.Contains("kept inside as"));
        Assert.DoesNotContain(stack.Merged.Walk(), e => e.Path.StartsWith('/') || e.Path.Contains(".."));
    }

    [Theory, MemberData(nameof(Cases))]
    public void CliRejectsWithTheOptionAndWarnsTheSameInExtractAndConvert(string kind, string rawName, string says)
    {
        using var t = new TempDir();
        var tar = WriteLayer(t, kind);
        foreach (var args in new[] { new[] { "extract", tar, t["x"] }, ["convert", tar, "-o", t["out.zar"]] })
        {
            var refused = ZarCli.Run([.. args, "--reject-unsafe-paths"]);
            Assert.True(refused.Code == 2, $"{args[0]} --reject-unsafe-paths: exit {refused.Code}: {refused.Err}");
            Assert.Contains(says, refused.Err);
        }
        Assert.False(File.Exists(t["out.zar"]));
        var extract = ZarCli.Run("extract", tar, t["x"]);
        var convert = ZarCli.Run("convert", tar, "-o", t["out.zar"]);
        Assert.True(extract.Code == 0 && convert.Code == 0, extract.Err + convert.Err);
        string Warning(string err) => Assert.Single(err.Split('\n'), l => l.Contains("warning") && l.Contains(rawName));
        Assert.Equal(Warning(convert.Err), Warning(extract.Err));
        Assert.Contains(says, Warning(extract.Err));
    }

    [Fact]
    public void HelpSaysWhatTheOptionRefuses()
    {
        var help = ZarCli.Run("extract", "--help").Out.ReplaceLineEndings(" ");
        Assert.Matches(@"--reject-unsafe-paths\s+refuse a layer holding a member whose name or hardlink target is absolute or\s+climbs above the root", help);
    }
}
