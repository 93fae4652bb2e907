using System.IO.Compression;
using Zar.Consumers;
using Zar.Model;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>Finding 5: a small gzip layer expanded to 10 GiB without a word. --max-size and --max-entries stop it first.</summary>
public sealed class ExpansionLimitTests
{
    /// <summary>A gzip layer of a few KiB holding one file of <paramref name="bytes"/> zeros (a decompression bomb).</summary>
    static string Bomb(TempDir t, long bytes)
    {
        var tar = t["bomb.tar.gz"];
        using var file = File.Create(tar);
        using var gz = new GZipStream(file, CompressionLevel.SmallestSize);
        var header = Zar.Tests.Sources.Tar.RawTar.NewHeader("zeros", '0', bytes).Finish();
        gz.Write(header);
        var zeros = new byte[1 << 20];
        for (long left = bytes; left > 0; left -= zeros.Length) gz.Write(zeros, 0, (int)Math.Min(zeros.Length, left));
        gz.Write(new byte[512 - bytes % 512 == 512 ? 0 : 512 - bytes % 512]);
        gz.Write(new byte[1024]);
        return tar;
    }

    static string ManyFiles(TempDir t, int count)
    {
        var b = new LayerTarBuilder();
        for (int i = 0; i < count; i++) b.File($"f{i}", "x");
        var tar = t["many.tar"];
        File.WriteAllBytes(tar, b.Build());
        return tar;
    }

    [Fact]
    public void ConvertRefusesABombBeforeWritingAndLeavesNoOutput()
    {
        using var t = new TempDir();
        var bomb = Bomb(t, 64L << 20);
        Assert.True(new FileInfo(bomb).Length < 1 << 20);
        foreach (var format in new[] { "zar", "erofs" })
        {
            var output = t["out." + format];
            var r = ZarCli.Run("convert", bomb, "--format", format, "-o", output, "--max-size", "10M");
            Assert.True(r.Code == 2, $"{format}: exit {r.Code}: {r.Err}");
            var line = Assert.Single(r.Err.Trim().Split('\n'));
            Assert.Contains("zeros", line);
            Assert.Contains("10 MiB", line);
            Assert.Contains("--max-size", line);
            Assert.Empty(Directory.GetFiles(t.Path, "out.*"));
        }
        Assert.Equal(0, ZarCli.Run("convert", bomb, "-o", t["ok.zar"], "--max-size", "65M").Code);
    }

    [Fact]
    public void ExtractRefusesABombBeforeWritingAnything()
    {
        using var t = new TempDir();
        var r = ZarCli.Run("extract", Bomb(t, 64L << 20), t["x"], "--max-size", "1M");
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        Assert.Contains("zeros", r.Err);
        Assert.Empty(Directory.GetFileSystemEntries(t["x"]));
    }

    [Fact]
    public void TotalOfManySmallFilesCounts()
    {
        using var t = new TempDir();
        using var stack = HostileTars.Open(ManyFiles(t, 100));
        var limits = new ExpansionLimits { MaxBytes = 50 };
        var e = Assert.Throws<ZarLimitException>(() => ImageWriter.Write(stack.Merged, t["o.zar"], ImageFormat.Zar, new ImageWriteOptions { Limits = limits }));
        Assert.Contains("file data", e.Message);
        Assert.Throws<ZarLimitException>(() => Extractor.Extract(stack.Merged, t["x"], new ExtractOptions { Limits = limits }));
        Assert.Empty(Directory.GetFileSystemEntries(t["x"]));
        Assert.False(File.Exists(t["o.zar"]));
    }

    [Fact]
    public void MaxEntriesStopsConvertAndExtract()
    {
        using var t = new TempDir();
        var tar = ManyFiles(t, 20);
        string[][] commands = [["convert", tar, "-o", t["o.zar"]], ["convert", tar, "--format", "erofs", "-o", t["o.erofs"]], ["extract", tar, t["x"]]];
        foreach (var args in commands)
        {
            var r = ZarCli.Run([.. args, "--max-entries", "10"]);
            Assert.True(r.Code == 2, $"{string.Join(' ', args)}: exit {r.Code}: {r.Err}");
            Assert.Contains("--max-entries", Assert.Single(r.Err.Trim().Split('\n')));
        }
        Assert.Empty(Directory.GetFiles(t.Path, "o.*"));
        Assert.Empty(Directory.GetFileSystemEntries(t["x"]));
        foreach (var args in commands)
        {
            var r = ZarCli.Run([.. args, "--max-entries", "21"]);
            Assert.True(r.Code == 0, r.Err);
        }
    }

    [Fact]
    public void ErofsImageSizeCountsNotOnlyTheData()
    {
        // 20,000 one-byte extents a block apart: 20 KB of data, but an EROFS image of 80 MB.
        using var t = new TempDir();
        var tar = HostileTars.Write(t, "s.tar", HostileTars.SparseFile("sparse", 20_000));
        using var stack = HostileTars.Open(tar);
        var options = new ImageWriteOptions { Limits = new ExpansionLimits { MaxBytes = 10 << 20 } };
        var e = Assert.Throws<ZarLimitException>(() => Converter.Flatten(stack, t["o.erofs"], ImageFormat.Erofs, options));
        Assert.Contains("EROFS image would be", e.Message);
        Assert.False(File.Exists(t["o.erofs"]));
        Converter.Flatten(stack, t["o.zar"], ImageFormat.Zar, options);
    }

    [Fact]
    public void SparseFilesCountTheirDataNotTheirSize()
    {
        // A 1 TiB sparse file with 3 bytes of data (lastlog-like) passes a 1 MiB limit.
        using var t = new TempDir();
        using var stack = HostileTars.Open(HostileTars.Write(t, "s.tar", HostileTars.SparseFile("lastlog", 3, step: 1L << 38)));
        var limits = new ExpansionLimits { MaxBytes = 1 << 20 };
        Converter.Flatten(stack, t["o.zar"], ImageFormat.Zar, new ImageWriteOptions { Limits = limits });
        Extractor.Extract(stack.Merged, t["x"], new ExtractOptions { Limits = limits });
        Assert.Equal(3L << 38, new FileInfo(t["x/lastlog"]).Length);
    }

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("10M", 10L << 20)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2TiB", 2L << 40)]
    [InlineData("5kb", 5L << 10)]
    public void SizesParse(string text, long bytes) => Assert.Equal(bytes, ExpansionLimits.ParseSize(text));

    [Theory]
    [InlineData("ten")]
    [InlineData("-1")]
    [InlineData("5X")]
    [InlineData("99999999P")]
    public void BadSizesAreUsageErrors(string text) => Assert.Throws<ZarException>(() => ExpansionLimits.ParseSize(text));
}
