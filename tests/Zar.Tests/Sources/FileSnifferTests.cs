using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Sources;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using static Zar.Tests.Sources.Images.ImageFixtures;

namespace Zar.Tests.Sources;

public class FileSnifferTests
{
    [Fact]
    public void EveryKindIsRecognisedByItsBytes()
    {
        using var t = new TempDir();
        var tars = SampleLayers();
        using var tree = LayerStack.Open(new FileLayersSource(WriteLayerFiles(t, tars)));
        // Names that lie: what counts is the content.
        ZarBuilder.Create(tree.Merged, t["image.tar"]);
        ErofsWriter.Write(tree.Merged, t["image.zar"]);
        File.WriteAllBytes(t["layer.img"], tars[0]);
        File.WriteAllBytes(t["layer.tar"], Compress.Apply(tars[0], Compression.Gzip));
        File.WriteAllBytes(t["layer.gz"], Compress.Apply(tars[0], Compression.Zstd));
        File.WriteAllBytes(t["empty"], []);
        File.WriteAllBytes(t["noise"], Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());
        Directory.CreateDirectory(t["tree"]);
        OciLayout(t["layout"], tars, [Compression.None, Compression.None, Compression.None]);

        Assert.Equal(FileKind.Zar, FileSniffer.Identify(t["image.tar"]));
        Assert.Equal(FileKind.Erofs, FileSniffer.Identify(t["image.zar"]));
        Assert.Equal(FileKind.Tar, FileSniffer.Identify(t["layer.img"]));
        Assert.Equal(FileKind.Gzip, FileSniffer.Identify(t["layer.tar"]));
        Assert.Equal(FileKind.Zstd, FileSniffer.Identify(t["layer.gz"]));
        Assert.Equal(FileKind.Tar, FileSniffer.Identify(LegacyDockerArchive(t, tars)));
        Assert.Equal(FileKind.Unknown, FileSniffer.Identify(t["empty"]));
        Assert.Equal(FileKind.Unknown, FileSniffer.Identify(t["noise"]));
        Assert.Equal(FileKind.Directory, FileSniffer.Identify(t["tree"]));
        Assert.Equal(FileKind.OciLayoutDirectory, FileSniffer.Identify(t["layout"]));
        Assert.Equal(FileKind.Missing, FileSniffer.Identify(t["nothing"]));
    }

    [Fact]
    public void SqliteIsRecognised()
    {
        var sqlite = Tools.Require("sqlite3");
        using var t = new TempDir();
        var r = Tools.Run(sqlite, [t["flist"], "create table entries(key text primary key, value blob); insert into entries values ('/', x'00');"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(FileKind.Sqlite, FileSniffer.Identify(t["flist"]));
    }

    [Fact]
    public void HeadAndTailAloneDecide()
    {
        var zarTail = new byte[ZarFooter.Size];
        ZarFooter.Magic.CopyTo(zarTail);
        Assert.Equal(FileKind.Zar, FileSniffer.Identify([], zarTail));
        Assert.Equal(FileKind.Unknown, FileSniffer.Identify([0x1F], [])); // one byte of gzip magic is not gzip
        Assert.Equal(FileKind.Zstd, FileSniffer.Identify([0x5E, 0x2A, 0x4D, 0x18, 0, 0, 0, 0], [])); // a skippable frame first
        var erofs = new byte[FileSniffer.HeadLength];
        BitConverter.GetBytes(ErofsFormat.Magic).CopyTo(erofs, ErofsFormat.SuperblockOffset);
        Assert.Equal(FileKind.Erofs, FileSniffer.Identify(erofs, []));
        Assert.Equal(FileKind.Unknown, FileSniffer.Identify(erofs[..^1], [])); // cut inside the magic
    }
}
