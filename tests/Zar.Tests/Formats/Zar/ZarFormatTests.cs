using System.Security.Cryptography;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Zar;

public class ZarFormatTests
{
    /// <summary>A small tree with some of everything, made with plain shell tools (the full fixture is in TreeFixture).</summary>
    internal static void MakeSmallTree(string dir, int files = 50)
    {
        Directory.CreateDirectory(Path.Combine(dir, "a/b"));
        var rng = new Random(7);
        for (int i = 0; i < files; i++)
        {
            var bytes = new byte[rng.Next(0, 9000)];
            rng.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(dir, i % 2 == 0 ? "a" : "a/b", $"f{i:D3}"), bytes);
        }
        File.WriteAllText(Path.Combine(dir, "same1"), "identical content\n");
        File.WriteAllText(Path.Combine(dir, "same2"), "identical content\n");
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "a/f000");
        Tools.Sh($"ln '{dir}/same1' '{dir}/a/hard' && setfattr -n user.k -v 0x00ff00 '{dir}/same1' && mkfifo '{dir}/fifo'");
    }

    [Fact]
    public void RoundTripOfASmallTreeReadsBackEveryByteAndAttribute()
    {
        using var t = new TempDir();
        MakeSmallTree(t["src"]);
        using var src = new HostDirectory(t["src"]);
        var result = ZarBuilder.Create(src, t["img.zar"]);
        Assert.Equal(1, result.DeduplicatedFiles);
        using var img = ZarImage.Open(t["img.zar"]);
        var a = src.Walk().ToList();
        var b = img.Walk().ToList();
        Assert.Equal(a.Select(e => e.Path), b.Select(e => e.Path));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Type, b[i].Type);
            Assert.Equal(a[i].Mode, b[i].Mode);
            Assert.Equal(a[i].MtimeSeconds, b[i].MtimeSeconds);
            Assert.Equal(a[i].MtimeNanoseconds, b[i].MtimeNanoseconds);
            Assert.Equal(a[i].LinkTarget, b[i].LinkTarget);
            Assert.Equal(a[i].Xattrs.Select(x => x.ToString()), b[i].Xattrs.Select(x => x.ToString()));
            if (a[i].IsRegular) Assert.Equal(src.ReadAllBytes(a[i]), img.ReadAllBytes(b[i]));
        }
        Assert.Equal(img.Lookup("same1")!.Inode, img.Lookup("a/hard")!.Inode);
        Assert.Equal(2u, img.Lookup("a/hard")!.LinkCount);
        Assert.NotEqual(img.Lookup("same1")!.Inode, img.Lookup("same2")!.Inode);
    }

    [Fact]
    public void PageAlignedImagesStartEveryFileAt4096AndMapItWithoutCopy()
    {
        using var t = new TempDir();
        MakeSmallTree(t["src"]);
        using var src = new HostDirectory(t["src"]);
        ZarBuilder.Create(src, t["aligned.zar"]);
        ZarBuilder.Create(src, t["tight.zar"], new ZarWriterOptions { PageAlign = false });
        using var aligned = ZarImage.Open(t["aligned.zar"]);
        using var tight = ZarImage.Open(t["tight.zar"]);
        Assert.True(aligned.Footer.PageAligned);
        Assert.False(tight.Footer.PageAligned);
        foreach (var e in aligned.Walk().Where(e => e.IsRegular && e.Size > 0))
        {
            Assert.Equal(0L, aligned.GetData(e).Segments[0].BlobOffset % 4096);
            Assert.Equal(src.ReadAllBytes(src.Lookup(e.Path)!), aligned.GetContent(e).ToArray());
        }
        Assert.True(new FileInfo(t["tight.zar"]).Length < new FileInfo(t["aligned.zar"]).Length);
        Assert.Contains(tight.Walk(), e => e.IsRegular && e.Size > 0 && tight.GetData(e).Segments[0].BlobOffset % 4096 != 0);
    }

    [Fact]
    public void TheSameTreeGivesByteIdenticalImages()
    {
        using var t = new TempDir();
        MakeSmallTree(t["src"]);
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["1.zar"]);
        Tools.Sh($"cp -a '{t["src"]}' '{t["copy"]}'");
        using (var src = new HostDirectory(t["copy"])) ZarBuilder.Create(src, t["2.zar"]);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(t["1.zar"])), SHA256.HashData(File.ReadAllBytes(t["2.zar"])));
    }

    [Fact]
    public void SeedLayoutHoldsLast8BytesPointAtTheMetadata()
    {
        using var t = new TempDir();
        MakeSmallTree(t["src"]);
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["img.zar"]);
        var bytes = File.ReadAllBytes(t["img.zar"]);
        long metaOffset = BitConverter.ToInt64(bytes, bytes.Length - 8);
        Assert.Equal("ZARMETA\0", System.Text.Encoding.ASCII.GetString(bytes, (int)metaOffset, 8));
    }

    [Fact]
    public void OpeningAndOneLookupTouchOnlyALogarithmicNumberOfMetadataPages()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["src"]);
        for (int i = 0; i < 20000; i++) File.WriteAllText(Path.Combine(t["src"], $"file-with-a-longish-name-{i:D6}"), "");
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["img.zar"]);
        using var img = ZarImage.Open(t["img.zar"]);
        int totalPages = (int)((img.Header.ChecksumTableOffset + 4095) / 4096);
        Assert.NotNull(img.Lookup("file-with-a-longish-name-012345"));
        Assert.True(totalPages > 500, $"metadata has {totalPages} pages");
        Assert.True(img.VerifiedPageCount <= 2 * 16 + 4, $"{img.VerifiedPageCount} of {totalPages} pages touched");
        Assert.Null(img.Lookup("file-with-a-longish-name-99999x"));
        Assert.True(img.VerifiedPageCount <= 8, $"{img.VerifiedPageCount} pages after a hit and a miss: the hash index should need a few");
    }

    [Fact]
    public void HashIndexAndBinarySearchAgreeOnEveryPathAndOnMisses()
    {
        using var t = new TempDir();
        TreeFixture.CreateEverything(t["src"]);
        using (var src = new HostDirectory(t["src"])) ZarBuilder.Create(src, t["img.zar"]);
        using var img = ZarImage.Open(t["img.zar"]);
        foreach (var e in img.Walk())
        {
            Assert.Equal(e.Inode, img.Lookup(e.Path)!.Inode);
            Assert.Equal(e.Inode, img.LookupBySearch(e.Path)!.Inode);
            Assert.Null(img.Lookup(e.Path + "x"));
            Assert.Null(img.LookupBySearch(e.Path + "x"));
        }
    }

    [Fact]
    public void AnErrorWhileWritingLeavesNoOutputAndKeepsAnExistingFile()
    {
        using var t = new TempDir();
        File.WriteAllText(t["out.zar"], "precious");
        var bad = new ThrowingFileSystem();
        Assert.Throws<ZarException>(() => ZarBuilder.Create(bad, t["out.zar"]));
        Assert.Equal("precious", File.ReadAllText(t["out.zar"]));
        Assert.Single(Directory.GetFiles(t.Path));
    }

    /// <summary>A source whose second file fails mid-read.</summary>
    sealed class ThrowingFileSystem : IReadOnlyFileSystem
    {
        readonly Entry[] _entries =
        {
            new() { Path = "", Type = EntryType.Directory, Mode = 0x1ED },
            new() { Path = "a", Type = EntryType.Regular, Mode = 0x1A4, Size = 10, Inode = 2 },
            new() { Path = "b", Type = EntryType.Regular, Mode = 0x1A4, Size = 10, Inode = 3 },
        };
        public string Description => "failing source";
        public Entry Root => _entries[0];
        public Entry? Lookup(string path) => _entries.FirstOrDefault(e => e.Path == path);
        public IEnumerable<Entry> List(Entry directory) => directory.Path == "" ? _entries[1..] : Array.Empty<Entry>();
        public int Read(Entry file, long offset, Span<byte> destination)
        {
            if (file.Inode == 3) throw new ZarException("b: read error");
            int n = (int)Math.Min(destination.Length, file.Size - offset);
            destination[..n].Fill(1);
            return n;
        }
        public FileData GetData(Entry file) => FileData.Contiguous(file.Size, new global::Zar.Blobs.MemoryBlob(new byte[file.Size]), 0);
        public void Dispose() { }
    }
}
