using Zar.Model;
using Zar.Sources.Tar;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Tar;

/// <summary>A gzip layer cut exactly between two entries must not read as a shorter, valid layer.</summary>
public class GzipTruncationTests
{
    [Fact]
    public void GzipLayerCutBetweenEntriesIsReportedAsTruncated()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["src"]);
        File.WriteAllText(t["src/a"], new string('a', 700));
        File.WriteAllText(t["src/b"], new string('b', 300));
        Tools.Sh($"tar --format=ustar -cf '{t["full.tar"]}' -C '{t["src"]}' a b");
        var full = File.ReadAllBytes(t["full.tar"]);
        // Header + 2 data blocks of "a": the cut falls exactly on b's header.
        var cut = full[..(512 * 3)];
        File.WriteAllBytes(t["full.tar.gz"], Compress.Apply(full, Compression.Gzip));
        File.WriteAllBytes(t["cut.tar.gz"], Compress.Apply(cut, Compression.Gzip));
        File.WriteAllBytes(t["cut.tar"], cut);

        using (var ok = TarReader.OpenFile(t["full.tar.gz"], out _))
        {
            Assert.Equal("a", ok.Next()!.Entry.Path);
            Assert.Equal("b", ok.Next()!.Entry.Path);
            Assert.Null(ok.Next());
        }
        using (var bad = TarReader.OpenFile(t["cut.tar.gz"], out var compression))
        {
            Assert.Equal(LayerCompression.Gzip, compression);
            Assert.Equal("a", bad.Next()!.Entry.Path);
            var e = Assert.Throws<ZarFormatException>(() => bad.Next());
            Assert.Contains("truncated", e.Message);
            Assert.Contains("cut.tar.gz", e.Message);
        }
        // An uncompressed tar without the marker stays readable: Go, .NET and Python readers accept it too.
        using (var plain = TarReader.OpenFile(t["cut.tar"], out _))
        {
            Assert.Equal("a", plain.Next()!.Entry.Path);
            Assert.Null(plain.Next());
        }
    }
}
