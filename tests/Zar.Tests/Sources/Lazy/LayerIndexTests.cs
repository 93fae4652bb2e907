using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Sources.Lazy;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Lazy;

/// <summary>Layers read through their index (every compressor, the corpus layers) equal what GNU tar extracts.</summary>
public sealed class LayerIndexTests : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    const long SmallSpan = 64 * 1024;

    /// <summary>The test tree as a GNU tar, compressed by <paramref name="compressor"/>, and GNU tar's extraction of it.</summary>
    (string Layer, string Extracted) MakeLayer(string compressor)
    {
        Tools.Require("tar");
        var src = _tmp["src"];
        if (!Directory.Exists(src)) { Directory.CreateDirectory(src); LazySupport.CreateTree(src); }
        var tar = _tmp["layer.tar"];
        if (!File.Exists(tar)) Tools.Sh($"tar --format=posix --sort=name -cf '{tar}' -C '{src}' .");
        var layer = _tmp[$"layer-{compressor}"];
        string parts = $"rm -rf '{layer}.parts' && mkdir '{layer}.parts' && split -b 1500000 '{tar}' '{layer}.parts/p'";
        Tools.Sh(compressor switch
        {
            "gzip" => $"gzip -c '{tar}' > '{layer}'",
            "gzip-1-multimember" => $"{parts} && for p in '{layer}.parts'/p*; do gzip -1 -c \"$p\"; done > '{layer}'",
            "pigz" => $"pigz -c '{tar}' > '{layer}'",
            "zstd" => $"zstd -q -c '{tar}' > '{layer}'",
            "zstd-multiframe" => $"{parts} && for p in '{layer}.parts'/p*; do zstd -q -c \"$p\"; done > '{layer}'",
            "none" => $"cp '{tar}' '{layer}'",
            _ => throw new ArgumentException(compressor),
        });
        var extracted = _tmp["extracted"];
        if (!Directory.Exists(extracted)) { Directory.CreateDirectory(extracted); Tools.Sh($"tar -xf '{tar}' -C '{extracted}'"); }
        return (layer, extracted);
    }

    [Theory]
    [InlineData("gzip", IndexedCompression.Gzip)]
    [InlineData("gzip-1-multimember", IndexedCompression.Gzip)]
    [InlineData("pigz", IndexedCompression.Gzip)]
    [InlineData("zstd", IndexedCompression.Zstd)]
    [InlineData("zstd-multiframe", IndexedCompression.Zstd)]
    [InlineData("none", IndexedCompression.None)]
    public void EveryFileThroughTheIndexEqualsGnuTar(string compressor, IndexedCompression expected)
    {
        if (compressor == "pigz") Tools.Require("pigz");
        if (compressor.StartsWith("zstd")) Tools.Require("zstd");
        var (layer, extracted) = MakeLayer(compressor);
        LayerIndex index;
        using (var file = File.OpenRead(layer)) index = LayerIndexBuilder.Build(file, layer, spanSize: SmallSpan);
        Assert.Equal(expected, index.Header.Compression);
        Assert.Equal(new FileInfo(layer).Length, index.Header.BlobSize);
        Assert.Equal(Zar.Oci.Digest.Sha256(File.ReadAllBytes(_tmp["layer.tar"])), index.Header.DiffId);
        if (compressor == "zstd") Assert.False(index.Header.RandomAccess);
        else Assert.True(index.Points.Count > 5, $"{index.Points.Count} points");
        int partCount = Directory.Exists(layer + ".parts") ? Directory.GetFiles(layer + ".parts").Length : 0;
        if (compressor == "gzip-1-multimember") Assert.Equal(partCount, index.Points.Count(p => p.Kind == AccessPointKind.GzipMemberStart));
        if (compressor == "zstd-multiframe") Assert.Equal(partCount, index.Points.Count(p => p.Kind == AccessPointKind.ZstdFrameStart));
        if (compressor is "gzip" or "pigz") Assert.Contains(index.Points, p => p.Bits != 0);

        // Round trip through bytes, as a reader gets it.
        index = LayerIndex.Read(index.ToBytes(), "round trip");
        var cache = new SpanCache(64 << 20);
        using var image = LazySupport.OpenLayer(layer, index, cache, out _);
        Assert.True(LazySupport.AssertEqualsExtraction(image, extracted) > 40);
        Assert.Equal("PRETTY_NAME=\"Zar Test\"\nID=zar\n", System.Text.Encoding.UTF8.GetString(image.ReadAllBytes(image.Lookup("etc/os-release")!)));
        Assert.Equal(EntryType.Symlink, image.Lookup("etc/link")!.Type);
        Assert.Equal(image.Lookup("bin/mid")!.Inode, image.Lookup("bin/mid-hardlink")!.Inode);
    }

    [Fact]
    public void CorpusLayersThroughTheIndexEqualGnuTar()
    {
        var corpus = Tools.RequireCorpus();
        var blobs = Directory.GetFiles(Path.Combine(corpus, "blobs", "sha256")).Where(f => new FileInfo(f).Length > 1 << 20).ToList();
        Assert.NotEmpty(blobs);
        foreach (var blob in blobs)
        {
            var index = LayerIndexBuilder.BuildFile(blob);
            Assert.Equal("sha256:" + Path.GetFileName(blob), index.Header.BlobDigest);
            Assert.Equal(IndexedCompression.Gzip, index.Header.Compression);
            // The size target: under 1% of the uncompressed layer.
            Assert.True(index.ToBytes().Length < index.Header.UncompressedSize / 100, $"index of {blob}: {index.ToBytes().Length} bytes");
            var extracted = _tmp["corpus-" + Path.GetFileName(blob)[..12]];
            Directory.CreateDirectory(extracted);
            Tools.Sh($"tar -xzf '{blob}' -C '{extracted}'");
            using var image = LazySupport.OpenLayer(blob, index, new SpanCache(64 << 20), out _);
            LazySupport.AssertEqualsExtraction(image, extracted);
        }
    }

    [Fact]
    public void DamagedIndexIsRefusedWithOneLine()
    {
        var (layer, _) = MakeLayer("gzip");
        var bytes = LayerIndexBuilder.BuildFile(layer, SmallSpan).ToBytes();
        foreach (int at in new[] { 5, 50, 400, bytes.Length - 3 })
        {
            var copy = (byte[])bytes.Clone();
            copy[at] ^= 1;
            var e = Assert.ThrowsAny<ZarException>(() => LayerIndex.Read(copy, "x.zidx"));
            Assert.StartsWith("x.zidx: ", e.Message);
        }
        var index = LayerIndex.Read(bytes, "x.zidx");
        File.WriteAllBytes(_tmp["other"], new byte[100]);
        var wrong = Assert.Throws<ZarFormatException>(() => LazySupport.OpenLayer(_tmp["other"], index, new SpanCache(1 << 20), out _));
        Assert.Contains("not", wrong.Message);
    }

    [Fact]
    public void CorruptBlobBytesAreRetriedThenRefusedNamingTheBlob()
    {
        var (layer, _) = MakeLayer("gzip");
        var index = LayerIndexBuilder.BuildFile(layer, SmallSpan);
        using var image = LazySupport.OpenLayer(layer, index, new SpanCache(64 << 20), out var probe);
        var big = image.Lookup("bin/big-text")!;
        // Corrupt a byte inside the span that holds the middle of the file.
        var data = image.GetData(big).Segments[0];
        int span = index.PointAt(data.BlobOffset + big.Size / 2);
        probe.CorruptAt = index.Points[span].In + 10;
        long readsBefore = probe.Reads;
        var e = Assert.Throws<ZarFormatException>(() => image.ReadFully(big, big.Size / 2, new byte[100]));
        Assert.Contains(layer, e.Message);
        Assert.Contains("checksum", e.Message);
        Assert.Equal(3, probe.Reads - readsBefore);
        // The rest of the layer still reads, and the span reads again once the blob is right.
        probe.CorruptAt = -1;
        Assert.Equal(100, image.ReadFully(big, big.Size / 2, new byte[100]));
    }

    [Fact]
    public void CacheStaysUnderItsLimitAndASecondReadCostsNothing()
    {
        var (layer, extracted) = MakeLayer("gzip");
        var index = LayerIndexBuilder.BuildFile(layer, SmallSpan);
        var cache = new SpanCache(400 * 1024);
        using var image = LazySupport.OpenLayer(layer, index, cache, out var probe);
        LazySupport.AssertEqualsExtraction(image, extracted);
        Assert.True(cache.PeakSize <= cache.Limit, $"peak {cache.PeakSize} > limit {cache.Limit}");
        Assert.True(cache.Size > 0);

        var small = image.Lookup("etc/os-release")!;
        image.ReadAllBytes(image.Lookup("etc/os-release")!);
        long before = probe.BytesRead;
        Assert.Equal(small.Size, image.ReadAllBytes(image.Lookup("etc/os-release")!).Length);
        Assert.Equal(before, probe.BytesRead);
    }

    [Fact]
    public void ReadingOneSmallFileFetchesOnlyItsSpan()
    {
        var (layer, _) = MakeLayer("gzip");
        var index = LayerIndexBuilder.BuildFile(layer, SmallSpan);
        using var image = LazySupport.OpenLayer(layer, index, new SpanCache(64 << 20), out var probe);
        image.ReadAllBytes(image.Lookup("etc/os-release")!);
        Assert.True(probe.BytesRead < new FileInfo(layer).Length / 10, $"{probe.BytesRead} of {new FileInfo(layer).Length} bytes");
    }

    [Fact]
    public void DiskSpansStayUnderTheirLimitAreCheckedAndServeTheNextRun()
    {
        var (layer, extracted) = MakeLayer("gzip");
        var index = LayerIndexBuilder.BuildFile(layer, SmallSpan);
        var dir = _tmp["spans"];
        long limit = 500 * 1024;
        using (var image = LazySupport.OpenLayer(layer, index, new SpanCache(1 << 20, new SpanStore(dir, limit)), out _))
            LazySupport.AssertEqualsExtraction(image, extracted);
        long onDisk = new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        Assert.InRange(onDisk, 1, limit);

        // A later run (a fresh memory cache) reads the last file read from disk, without touching the blob.
        using (var image = LazySupport.OpenLayer(layer, index, new SpanCache(1 << 20, new SpanStore(dir, limit)), out var probe))
        {
            var recent = new DirectoryInfo(dir).EnumerateFiles("*.span", SearchOption.AllDirectories).MaxBy(f => f.LastWriteTimeUtc)!;
            int span = int.Parse(Path.GetFileNameWithoutExtension(recent.Name));
            var buf = new byte[100];
            image.Blobs[0].ReadAt(index.Points[span].Out, buf);
            Assert.True(probe.BytesRead == 0, $"span {span} of {index.Points.Count} ({recent.FullName}, {recent.Length} bytes): read {probe.BytesRead}; files: {string.Join(",", new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Select(f => f.Name))}");

            // A damaged span file is a miss: fetched again, never returned.
            var bytes = File.ReadAllBytes(recent.FullName);
            bytes[^1] ^= 1;
            File.WriteAllBytes(recent.FullName, bytes);
            var again = new byte[100];
            using var fresh = LazySupport.OpenLayer(layer, index, new SpanCache(1 << 20, new SpanStore(dir, limit)), out var probe2);
            fresh.Blobs[0].ReadAt(index.Points[span].Out, again);
            Assert.True(probe2.BytesRead > 0);
            Assert.Equal(buf, again);
        }

        Assert.Equal(0, SpanStore.Prune(dir, 0));
        Assert.Empty(Directory.GetFiles(dir, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void ReadingAFileFrontToBackFetchesTheNextSpanAhead()
    {
        var (layer, _) = MakeLayer("gzip");
        var index = LayerIndexBuilder.BuildFile(layer, SmallSpan);
        var cache = new SpanCache(64 << 20);
        using var image = LazySupport.OpenLayer(layer, index, cache, out _, readAhead: true);
        var big = image.Lookup("bin/big-random")!;
        long start = image.GetData(big).Segments[0].BlobOffset;
        int first = index.PointAt(start) + 1;
        var buf = new byte[100];
        image.Blobs[0].ReadAt(index.Points[first].Out, buf);
        image.Blobs[0].ReadAt(index.Points[first + 1].Out, buf);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!cache.Contains(index.Header.BlobDigest, first + 2) && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.True(cache.Contains(index.Header.BlobDigest, first + 2));
        Assert.False(cache.Contains(index.Header.BlobDigest, first + 4));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    [InlineData("none")]
    public void TinyAndEmptyLayersIndexAndRead(string compressor)
    {
        if (compressor == "zstd") Tools.Require("zstd");
        var src = _tmp["tiny"];
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "hello"), "hello, lazy world\n");
        Directory.CreateDirectory(Path.Combine(src, "empty-dir"));
        var tar = _tmp["tiny.tar"];
        Tools.Sh($"tar --format=gnu -cf '{tar}' -C '{src}' .");
        var layer = _tmp["tiny." + compressor];
        Tools.Sh(compressor switch { "gzip" => $"gzip -c '{tar}' > '{layer}'", "zstd" => $"zstd -q -c '{tar}' > '{layer}'", _ => $"cp '{tar}' '{layer}'" });
        var index = LayerIndexBuilder.BuildFile(layer);
        Assert.Single(index.Points);
        Assert.True(index.Header.RandomAccess);
        using var image = LazySupport.OpenLayer(layer, index, new SpanCache(1 << 20), out _);
        Assert.Equal("hello, lazy world\n", System.Text.Encoding.UTF8.GetString(image.ReadAllBytes(image.Lookup("hello")!)));
        Assert.True(image.Lookup("empty-dir")!.IsDirectory);
    }
}
