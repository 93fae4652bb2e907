using Zar.Consumers;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Tests.Support;
using Zar.Oci;

using Zar.Tests.Sources.Layers;

namespace Zar.Tests.Consumers;

public sealed class StreamingPassTests
{
    /// <summary>Counts how often each layer blob is opened.</summary>
    sealed class CountingSource(IReadOnlyList<string> files, bool seekable = true) : IImageSource
    {
        public int[] Opens = new int[files.Count];
        public string Description => "counting";
        public ImageConfig Config { get; } = ImageConfig.Empty();
        public IReadOnlyList<ImageLayer> Layers => files.Select((f, i) => new ImageLayer(null, "x", -1, null, $"layer {i + 1}", () =>
        {
            Opens[i]++;
            return seekable ? File.OpenRead(f) : new NonSeekable(File.OpenRead(f));
        })).ToList();
        public string? ManifestDigest => null;
        public void Dispose() { }
    }

    /// <summary>A blob stream like a download: no seeking.</summary>
    sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }

    static List<string> MakeLayers(TempDir t)
    {
        var rnd = new Random(42);
        byte[] Bytes(int n) { var b = new byte[n]; rnd.NextBytes(b); return b; }
        var l1 = new LayerTarBuilder();
        for (int i = 0; i < 40; i++) l1.FileBytes($"d{i % 4}/f{i}", Bytes(1000 + i * 997));
        l1.FileBytes("big", Bytes(3 << 20)).Hardlink("big-link", "big");
        var l2 = new LayerTarBuilder().Whiteout("d0", "f0").FileBytes("d1/f1", Bytes(5000)).FileBytes("new", Bytes(70000)).Hardlink("d2/link-to-lower", "d2/f2");
        var l3 = new LayerTarBuilder().Opaque("d3").FileBytes("d3/only", Bytes(12345)).File("empty", "");
        var files = new List<string>();
        var comps = new[] { Compression.Gzip, Compression.Zstd, Compression.None };
        foreach (var (b, i) in new[] { l1, l2, l3 }.Select((b, i) => (b, i)))
        {
            var f = t[$"l{i}"];
            File.WriteAllBytes(f, Compress.Apply(b.Build(), comps[i]));
            files.Add(f);
        }
        return files;
    }

    /// <summary>
    /// The streaming pass hands out every merged entry once, directories before their children, file data in layer order
    /// with each compressed layer decompressed once, and the data equals what random reads return.
    /// </summary>
    [Fact]
    public void CopyToStreamsEveryEntryOnceInLayerOrder()
    {
        using var t = new TempDir();
        var source = new CountingSource(MakeLayers(t));
        using var stack = LayerStack.Open(source, new LayerStackOptions { SpillCompressedLayers = false });
        var opensAfterScan = source.Opens.ToArray();
        Assert.Equal(new[] { 1, 1, 1 }, opensAfterScan);

        var seen = new List<Entry>();
        var data = new Dictionary<string, byte[]>();
        var lastDataPosition = (Layer: -1L, Offset: -1L);
        StreamingPass.Run(stack.Merged, (e, d, s) =>
        {
            Assert.True(e.Path.Length == 0 || seen.Any(x => x.Path == ZarPath.Parent(e.Path)), $"{e.Path} before its directory");
            seen.Add(e);
            if (s != null)
            {
                var position = ((long)stack.Blobs.ToList().IndexOf((LayerBlob)d!.Segments[0].Blob), d.Segments[0].BlobOffset);
                Assert.True(position.CompareTo(lastDataPosition) > 0, $"{e.Path} out of layer order");
                lastDataPosition = position;
                var ms = new MemoryStream();
                s.CopyTo(ms);
                data[e.Path] = ms.ToArray();
            }
        }, stack.Blobs);
        // One more sequential pass per layer, whatever its compression.
        Assert.Equal(new[] { 2, 2, 2 }, source.Opens);

        var walk = ((IReadOnlyFileSystem)stack.Merged).Walk().ToList();
        Assert.Equal(walk.Select(e => e.Path).OrderBy(p => p, StringComparer.Ordinal), seen.Select(e => e.Path).OrderBy(p => p, StringComparer.Ordinal));
        foreach (var e in walk.Where(e => e.Type == EntryType.Regular && e.Size > 0))
        {
            var streamed = seen.First(x => x.Path == e.Path);
            if (streamed.Type == EntryType.Hardlink)
            {
                Assert.Equal(e.Inode, stack.Merged.Stat(streamed.LinkTarget!).Inode);
                continue;
            }
            Assert.True(stack.Merged.ReadAllBytes(e).AsSpan().SequenceEqual(data[e.Path]), $"{e.Path}: streamed data differs from random reads");
        }
        Assert.Contains(seen, e => e.Type == EntryType.Hardlink && e.Path == "big-link" && e.LinkTarget == "big");
        Assert.Contains(seen, e => e.Type == EntryType.Hardlink && e.Path == "d2/link-to-lower" && e.LinkTarget == "d2/f2");
        Assert.DoesNotContain(seen, e => e.Path is "d0/f0" or "d3/f3");
    }

    /// <summary>Spilled compressed layers serve random reads from a temp file and remove it on dispose.</summary>
    [Fact]
    public void SpilledLayersReadAtRandomAndAreDeleted()
    {
        using var t = new TempDir();
        var files = MakeLayers(t);
        Directory.CreateDirectory(t["spill"]);
        using var plain = LayerStack.Open(new FileLayersSource(files), new LayerStackOptions { SpillCompressedLayers = false });
        var seekable = LayerStack.Open(new CountingSource(files), new LayerStackOptions { SpillCompressedLayers = true, TempDirectory = t["spill"] });
        Assert.Equal(2, Directory.GetFiles(t["spill"]).Length); // the uncompressed layer is read in place
        seekable.Dispose();
        Assert.Empty(Directory.GetFiles(t["spill"]));
        // Blob streams that cannot seek (downloads) are spilled even when uncompressed.
        var source = new CountingSource(files, seekable: false);
        var stack = LayerStack.Open(source, new LayerStackOptions { SpillCompressedLayers = true, TempDirectory = t["spill"] });
        Assert.Equal(3, Directory.GetFiles(t["spill"]).Length);
        // Backwards through the files: every read lands in a different place of the gzip layer.
        var entries = ((IReadOnlyFileSystem)stack.Merged).Walk().Where(e => e.Type == EntryType.Regular).Reverse().ToList();
        foreach (var e in entries)
            Assert.True(plain.Merged.ReadAllBytes(plain.Merged.Stat(e.Path)).AsSpan().SequenceEqual(stack.Merged.ReadAllBytes(e)), e.Path);
        var big = stack.Merged.Stat("big");
        var mid = new byte[100];
        Assert.Equal(100, stack.Merged.ReadFully(big, 2_000_000, mid));
        Assert.True(mid.AsSpan().SequenceEqual(plain.Merged.ReadAllBytes(plain.Merged.Stat("big")).AsSpan(2_000_000, 100)));
        Assert.Equal(new[] { 1, 1, 1 }, source.Opens); // every read came from the spill files
        stack.Dispose();
        Assert.Empty(Directory.GetFiles(t["spill"]));
    }
}
