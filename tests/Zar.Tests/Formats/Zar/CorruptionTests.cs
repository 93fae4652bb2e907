using System.Security.Cryptography;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Zar;

/// <summary>
/// Random byte flips and truncations of a valid image: every outcome is either a correct read (the
/// same tree as the original) or the documented ZarException — never another exception, never a hang.
/// ZAR_FUZZ_ITERATIONS raises the count for a longer run on demand.
/// </summary>
public class CorruptionTests
{
    static int Iterations => int.TryParse(Environment.GetEnvironmentVariable("ZAR_FUZZ_ITERATIONS"), out var n) ? n : 400;

    internal static List<string> Snapshot(IReadOnlyFileSystem fs)
    {
        var lines = new List<string>();
        foreach (var e in fs.Walk())
        {
            var content = e.IsRegular ? Convert.ToHexString(SHA256.HashData(fs.ReadAllBytes(e))) : "";
            lines.Add($"{ZarPath.Display(e.Path)}|{e.Type}|{e.Mode}|{e.Uid}|{e.Gid}|{e.MtimeSeconds}.{e.MtimeNanoseconds}|{e.Size}|{e.LinkTarget}|" +
                      $"{e.DevMajor},{e.DevMinor}|{e.Inode}|{e.LinkCount}|{string.Join(",", e.Xattrs)}|{content}");
            if (e.IsDirectory) lines.Add(string.Join("/", fs.List(e).Select(c => c.Name)));
        }
        return lines;
    }

    static string Outcome(string path, List<string> expected)
    {
        try
        {
            using var img = ZarImage.Open(path);
            var got = Snapshot(img);
            Assert.Equal(expected, got);
            return "correct";
        }
        catch (ZarException)
        {
            return "error";
        }
    }

    [Fact]
    public void ByteFlipsGiveACorrectReadOrTheDocumentedError()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 30);
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["img.zar"], new ZarWriterOptions { PageAlign = false });
        List<string> expected;
        using (var img = ZarImage.Open(t["img.zar"])) expected = Snapshot(img);
        var original = File.ReadAllBytes(t["img.zar"]);
        var rng = new Random(12345);
        var outcomes = new Dictionary<string, int>();
        for (int i = 0; i < Iterations; i++)
        {
            var bytes = (byte[])original.Clone();
            int flips = 1 + rng.Next(3);
            for (int f = 0; f < flips; f++) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
            File.WriteAllBytes(t["bad.zar"], bytes);
            var o = Outcome(t["bad.zar"], expected);
            outcomes[o] = outcomes.GetValueOrDefault(o) + 1;
        }
        // Nearly every byte of a tight image is covered by a checksum: flips must be detected.
        Assert.True(outcomes.GetValueOrDefault("error") > Iterations * 9 / 10, string.Join(", ", outcomes));
    }

    [Fact]
    public void TruncationsAndForeignFilesGiveTheDocumentedError()
    {
        using var t = new TempDir();
        ZarFormatTests.MakeSmallTree(t["src"], files: 10);
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["img.zar"]);
        var original = File.ReadAllBytes(t["img.zar"]);
        var rng = new Random(99);
        for (int i = 0; i < Iterations / 4; i++)
        {
            int len = i < 70 ? i : rng.Next(original.Length);
            File.WriteAllBytes(t["cut.zar"], original[..len]);
            var e = Assert.ThrowsAny<ZarException>(() => { using var img = ZarImage.Open(t["cut.zar"]); Snapshot(img); });
            Assert.Contains("cut.zar", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        // Bytes appended to a valid image are caught too (the footer records the file length).
        File.WriteAllBytes(t["long.zar"], original.Concat(new byte[] { 0 }).ToArray());
        Assert.ThrowsAny<ZarException>(() => ZarImage.Open(t["long.zar"]));
        File.WriteAllBytes(t["foreign.zar"], System.Text.Encoding.ASCII.GetBytes(new string('x', 5000)));
        var foreign = Assert.ThrowsAny<ZarException>(() => ZarImage.Open(t["foreign.zar"]));
        Assert.Contains("not a zar image", foreign.Message);
    }
}
