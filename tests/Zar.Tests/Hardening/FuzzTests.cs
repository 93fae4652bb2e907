using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Flist;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Tar;
using Zar.Stores;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>
/// Every reader on 10,000 damaged variants of a small image of every kind of entry (see <see cref="Fuzzer"/>).
/// zar checks its metadata and contents, so a variant reads exactly as the original or fails; EROFS has no
/// checksums, so content may differ, but only in a file whose bytes or metadata were changed.
/// </summary>
public sealed class FuzzTests(FuzzTests.Inputs inputs) : IClassFixture<FuzzTests.Inputs>
{
    public sealed class Inputs : IDisposable
    {
        public readonly TempDir Dir = Scaling.Scratch();
        public readonly byte[] Tar;
        public readonly string Tree;
        readonly Lazy<string> _reference;

        public Inputs()
        {
            var b = new LayerTarBuilder().Dir("etc").Dir("a").Dir("a/b").Dir("a/b/c");
            for (int i = 0; i < 40; i++) b.File($"etc/f{i:D2}", new string((char)('a' + i % 26), i * 15));
            b.FileBytes("big", Enumerable.Range(0, 9000).Select(i => (byte)(i * 7)).ToArray())
                .File("a/b/c/deep", "deep", xattrs: new() { ["user.one"] = "1", ["user.two"] = "two" })
                .Symlink("link", "etc/f01").Hardlink("hard", "big").CharDevice("null", 1, 3).Fifo("fifo");
            Tar = b.Build();
            File.WriteAllBytes(Dir["layer.tar"], Tar);
            Tree = Dir["tree"];
            using var stack = HostileTars.Open(Dir["layer.tar"]);
            Extractor.Extract(stack.Merged, Tree);
            _reference = new(() => { using var host = new HostDirectory(Tree); return Fuzzer.Describe(host); });
        }

        public string Reference => _reference.Value;

        public void Dispose() => Dir.Dispose();
    }

    /// <summary>Each variant is written to its own file in memory (the readers map files).</summary>
    string VariantFile(byte[] bytes, string ext)
    {
        var path = inputs.Dir[$"v-{Environment.CurrentManagedThreadId}-{Guid.NewGuid():N}.{ext}"];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void TarReader()
    {
        Fuzzer.Run("tar", inputs.Tar, (0, inputs.Tar.Length), (bytes, _) =>
        {
            using var reader = new TarReader(new MemoryStream(bytes), "variant.tar");
            while (reader.Next() != null) reader.OpenData().CopyTo(Stream.Null);
            return null;
        });
    }

    [Fact]
    public void ZarReader()
    {
        var image = inputs.Dir["fuzz.zar"];
        using (var stack = HostileTars.Open(inputs.Dir["layer.tar"])) ImageWriter.Write(stack.Merged, image, ImageFormat.Zar, new ImageWriteOptions { PageAlign = false });
        var original = File.ReadAllBytes(image);
        string expected;
        using (var z = ZarImage.Open(image)) expected = Fuzzer.Describe(z);
        Assert.Equal(inputs.Reference, expected);
        long metadata;
        using (var z = ZarImage.Open(image)) metadata = (long)z.Footer.MetadataOffset;
        Fuzzer.Run("zar", original, (metadata, original.Length), (bytes, _) =>
        {
            var path = VariantFile(bytes, "zar");
            try
            {
                using var z = ZarImage.Open(path);
                var got = Fuzzer.Describe(z);
                return got == expected ? null : "read back differently with no error (silent corruption):\n" + FirstDifference(expected, got);
            }
            finally { File.Delete(path); }
        });
    }

    /// <summary>
    /// Every single-bit flip of the footer and of the metadata is refused or changes nothing a reader sees
    /// (tree, contents, footer fields, what `zar inspect` prints). Catches a disabled footer or page checksum.
    /// </summary>
    [Fact]
    public void EveryFooterAndMetadataBitFlipIsRefusedOrHarmless()
    {
        var image = inputs.Dir["flips.zar"];
        using (var stack = HostileTars.Open(inputs.Dir["layer.tar"]))
            ImageWriter.Write(stack.Merged, image, ImageFormat.Zar, new ImageWriteOptions { PageAlign = false });
        var original = File.ReadAllBytes(image);
        string View(ZarImage z) => Fuzzer.Describe(z) + z.Footer + string.Join(",", z.Describe());
        string expected;
        long metadata;
        using (var z = ZarImage.Open(image)) { expected = View(z); metadata = (long)z.Footer.MetadataOffset; }
        var silent = new List<string>();
        var path = inputs.Dir["flip.zar"];
        // Every bit of the footer; every 5th bit of the rest of the metadata (all of them is minutes).
        for (long bit = metadata * 8; bit < original.Length * 8L; bit += bit >= (original.Length - ZarFooter.Size) * 8L ? 1 : 5)
        {
            var bytes = (byte[])original.Clone();
            bytes[bit / 8] ^= (byte)(1 << (int)(bit % 8));
            File.WriteAllBytes(path, bytes);
            try
            {
                using var z = ZarImage.Open(path);
                if (View(z) != expected) silent.Add($"byte {bit / 8} bit {bit % 8}");
            }
            catch (ZarException) { }
        }
        Assert.True(silent.Count == 0, $"{silent.Count} flips read back differently with no error: {string.Join(", ", silent.Take(10))}");
    }

    [Fact]
    public void ErofsReaderOnOurImages() => FuzzErofs(() =>
    {
        var image = inputs.Dir["ours.erofs"];
        using var stack = HostileTars.Open(inputs.Dir["layer.tar"]);
        ImageWriter.Write(stack.Merged, image, ImageFormat.Erofs);
        return image;
    });

    [Fact]
    public void ErofsReaderOnMkfsErofsImages() => FuzzErofs(() =>
    {
        var mkfs = ErofsUtils.Require("mkfs.erofs");
        var image = inputs.Dir["mkfs.erofs"];
        var r = Tools.Run(mkfs, ["-T0", "--all-root", image, inputs.Tree]);
        Assert.True(r.Code == 0, r.Err);
        return image;
    });

    void FuzzErofs(Func<string> make)
    {
        var image = make();
        var original = File.ReadAllBytes(image);
        string expected;
        long dataStart = original.Length;
        // Where each file's bytes are in the original image; every other byte is metadata.
        var dataOf = new Dictionary<string, (long Start, long End)[]>();
        using (var e = ErofsImage.Open(image))
        {
            expected = Fuzzer.Describe(e, content: false);
            foreach (var f in ((IReadOnlyFileSystem)e).Walk().Where(x => x.IsRegular))
            {
                dataOf[f.Path] = e.GetData(f).Segments.Select(s => (s.BlobOffset, s.BlobEnd)).ToArray();
                foreach (var s in e.GetData(f).Segments) dataStart = Math.Min(dataStart, s.BlobOffset);
            }
        }
        bool InOtherFilesData(long offset, string path) =>
            dataOf.Any(kv => kv.Key != path && kv.Value.Any(r => offset >= r.Start && offset < r.End)
                && !dataOf[path].Any(r => offset >= r.Start && offset < r.End));
        Fuzzer.Run("erofs", original, (0, dataStart), (bytes, changed) =>
        {
            var path = VariantFile(bytes, "erofs");
            try
            {
                using var e = ErofsImage.Open(path);
                IReadOnlyFileSystem fs = e;
                var walk = fs.Walk().ToList();
                // Without checksums, changed metadata reads as changed metadata; file bytes may differ only
                // where the image changed: in the file's own data, or in metadata that says where it is.
                foreach (var f in walk.Where(x => x.IsRegular))
                {
                    var data = fs.ReadAllBytes(f);
                    using var reference = new HostDirectory(inputs.Tree);
                    var same = ((IReadOnlyFileSystem)reference).Lookup(f.Path);
                    if (same is not { IsRegular: true } || same.Size != f.Size) continue;
                    if (data.AsSpan().SequenceEqual(((IReadOnlyFileSystem)reference).ReadAllBytes(same))) continue;
                    // Changed metadata (anything that is not another file's data) or this file's own data.
                    bool explained = changed.Any(p => !dataOf.ContainsKey(f.Path) || !InOtherFilesData(p, f.Path));
                    if (!explained) return $"{ZarPath.Display(f.Path)}: content differs though neither its data nor any metadata changed";
                }
                return null;
            }
            finally { File.Delete(path); }
        });
        Assert.NotEmpty(expected);
    }

    [Fact]
    public void FlistReader()
    {
        var fl = inputs.Dir["tree.fl"];
        using (var host = new HostDirectory(inputs.Tree))
        using (var router = ContentRouter.Open(["dir://" + inputs.Dir["store"]]))
            FlistWriter.Write(host, fl, router);
        var original = File.ReadAllBytes(fl);
        Fuzzer.Run("flist", original, null, (bytes, _) =>
        {
            var path = VariantFile(bytes, "fl");
            try
            {
                using var f = FlistImage.Open(path, new FlistOpenOptions { Stores = ["dir://" + inputs.Dir["store"]] });
                Fuzzer.Describe(f);
                return null;
            }
            finally { File.Delete(path); }
        });
    }

    static string FirstDifference(string a, string b)
    {
        var la = a.Split('\n');
        var lb = b.Split('\n');
        for (int i = 0; i < Math.Max(la.Length, lb.Length); i++)
        {
            var x = i < la.Length ? la[i] : "";
            var y = i < lb.Length ? lb[i] : "";
            if (x != y) return $"  expected: {x}\n  got:      {y}";
        }
        return "";
    }
}
