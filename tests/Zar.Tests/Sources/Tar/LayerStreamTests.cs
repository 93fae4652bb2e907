using Zar.Model;
using Zar.Sources.Tar;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Tar;

/// <summary>Compression is recognised by magic bytes, whatever the file is called.</summary>
public sealed class LayerStreamTests : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    /// <summary>A small tar made by GNU tar, plus the entries read from it uncompressed.</summary>
    (string Tar, List<ReadEntry> Expected) MakeTar()
    {
        Tools.Require("tar");
        var src = _tmp["src"];
        Directory.CreateDirectory(src);
        var rnd = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            var data = new byte[rnd.Next(0, 40_000)];
            rnd.NextBytes(data);
            File.WriteAllBytes(Path.Combine(src, $"f{i}"), data);
        }
        var tar = _tmp["plain.tar"];
        Tools.Sh($"tar --format=posix -cf '{tar}' -C '{src}' .");
        return (tar, TarTestSupport.ReadAll(tar));
    }

    static List<ReadEntry> ReadLayer(string path, out LayerCompression compression)
    {
        // Both the seekable path (seek back after sniffing) and the replaying path must give the same result.
        List<ReadEntry> viaPipe;
        using (var pipe = new NonSeekableStream(File.OpenRead(path)))
        using (var reader = new TarReader(LayerStream.Open(pipe, out compression), Path.GetFileName(path)))
            viaPipe = TarTestSupport.ReadAll(reader);
        using var file = File.OpenRead(path);
        var layer = LayerStream.Open(file, out var again);
        Assert.Equal(compression, again);
        Assert.Equal(compression == LayerCompression.None, layer.CanSeek);
        using (var reader = new TarReader(layer, Path.GetFileName(path)))
            AssertSame(viaPipe, TarTestSupport.ReadAll(reader));
        return viaPipe;
    }

    static void AssertSame(List<ReadEntry> expected, List<ReadEntry> actual)
    {
        Assert.Equal(expected.Select(e => e.Entry.Path), actual.Select(e => e.Entry.Path));
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Data, actual[i].Data);
            Assert.Equal(expected[i].DataOffset, actual[i].DataOffset);
        }
    }

    [Fact]
    public void PlainIsPassedThrough()
    {
        var (tar, expected) = MakeTar();
        var misnamed = _tmp["layer.tar.gz"];
        File.Copy(tar, misnamed);
        AssertSame(expected, ReadLayer(misnamed, out var c));
        Assert.Equal(LayerCompression.None, c);
    }

    [Fact]
    public void GzipUnderAMisleadingName()
    {
        var (tar, expected) = MakeTar();
        var layer = _tmp["layer.tar"];
        Tools.Sh($"gzip -c '{tar}' > '{layer}'");
        AssertSame(expected, ReadLayer(layer, out var c));
        Assert.Equal(LayerCompression.Gzip, c);
        using (var reader = TarReader.OpenFile(layer, out c))
            AssertSame(expected, TarTestSupport.ReadAll(reader));
        Assert.Equal(LayerCompression.Gzip, c);
        Assert.Throws<ZarNotFoundException>(() => TarReader.OpenFile(_tmp["missing"], out _));
    }

    [Fact]
    public void GzipMultiMember()
    {
        var (tar, expected) = MakeTar();
        var bytes = File.ReadAllBytes(tar);
        var layer = _tmp["multi.bin"];
        // Members split at arbitrary (non-block) offsets, as pigz-style or appended gzip streams produce.
        File.WriteAllBytes(_tmp["p1"], bytes[..12345]);
        File.WriteAllBytes(_tmp["p2"], bytes[12345..200001]);
        File.WriteAllBytes(_tmp["p3"], bytes[200001..]);
        Tools.Sh($"cd '{_tmp.Path}' && gzip -c p1 > multi.bin && gzip -1 -c p2 >> multi.bin && gzip -9 -c p3 >> multi.bin");
        AssertSame(expected, ReadLayer(layer, out var c));
        Assert.Equal(LayerCompression.Gzip, c);
    }

    [Fact]
    public void ZstdUnderAMisleadingNameAndMultiFrame()
    {
        Tools.Require("zstd");
        var (tar, expected) = MakeTar();
        var layer = _tmp["layer.tar.gz"];
        Tools.Sh($"zstd -q -c '{tar}' > '{layer}'");
        AssertSame(expected, ReadLayer(layer, out var c));
        Assert.Equal(LayerCompression.Zstd, c);

        var bytes = File.ReadAllBytes(tar);
        File.WriteAllBytes(_tmp["z1"], bytes[..777]);
        File.WriteAllBytes(_tmp["z2"], bytes[777..]);
        Tools.Sh($"cd '{_tmp.Path}' && zstd -q -c z1 > multi && zstd -q -19 -c z2 >> multi");
        AssertSame(expected, ReadLayer(_tmp["multi"], out c));
        Assert.Equal(LayerCompression.Zstd, c);

        // A skippable frame first (seekable-zstd and zstd:chunked put metadata in such frames).
        byte[] skippable = [0x5E, 0x2A, 0x4D, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5];
        File.WriteAllBytes(_tmp["skip"], skippable.Concat(File.ReadAllBytes(_tmp["multi"])).ToArray());
        AssertSame(expected, ReadLayer(_tmp["skip"], out c));
        Assert.Equal(LayerCompression.Zstd, c);
    }

    [Theory]
    [InlineData("bzip2")]
    [InlineData("xz")]
    public void Bzip2AndXzAreNotSupportedWithAClearMessage(string tool)
    {
        Tools.Require(tool);
        var (tar, _) = MakeTar();
        var layer = _tmp["layer.tar"];
        Tools.Sh($"{tool} -c '{tar}' > '{layer}'");
        using var file = File.OpenRead(layer);
        var ex = Assert.Throws<ZarNotSupportedException>(() => LayerStream.Open(file, out _));
        Assert.Contains(tool, ex.Message);
    }

    [Fact]
    public void CorruptGzipIsAFormatError()
    {
        var (tar, _) = MakeTar();
        var layer = _tmp["layer.tgz"];
        Tools.Sh($"gzip -c '{tar}' > '{layer}'");
        var bytes = File.ReadAllBytes(layer);
        for (int i = 0; i < 16; i++) bytes[bytes.Length / 2 + i] ^= 0x5A;
        File.WriteAllBytes(layer, bytes);
        var ex = Assert.Throws<ZarFormatException>(() => ReadLayer(layer, out _));
        Assert.StartsWith("layer.tgz: ", ex.Message);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public void TruncatedCompressedLayerErrorsOrYieldsAPrefix(string tool)
    {
        Tools.Require(tool);
        var (tar, expected) = MakeTar();
        var layer = _tmp["layer"];
        Tools.Sh($"{tool} -c '{tar}' > '{layer}'");
        var bytes = File.ReadAllBytes(layer);
        File.WriteAllBytes(_tmp["empty"], []);
        Assert.Empty(ReadLayer(_tmp["empty"], out _));
        foreach (var cut in new[] { 3, 10, bytes.Length / 3, bytes.Length / 2, bytes.Length - 9, bytes.Length - 1 })
        {
            File.WriteAllBytes(_tmp["cut"], bytes[..cut]);
            try
            {
                var got = ReadLayer(_tmp["cut"], out _);
                // Without an error the reader may only have stopped at a header boundary: a prefix, intact.
                Assert.True(got.Count <= expected.Count);
                AssertSame(expected.Take(got.Count).ToList(), got);
            }
            catch (ZarFormatException ex)
            {
                Assert.StartsWith("cut: ", ex.Message);
            }
        }
    }
}
