using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Tar;
using Zar.Tests.Sources.Tar;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>
/// Readers and writers are linear in entries: a million tar members, a directory of a million names,
/// a 100-level deep tree, each timed against a tenth of its size in the same run (see <see cref="Scaling"/>).
/// Every stage runs: tar reader, layer merge, zar writer and reader, EROFS writer and reader, extract.
/// </summary>
public sealed class TreeScaleTests : IDisposable
{
    readonly TempDir _t = Scaling.Scratch();
    public void Dispose() => _t.Dispose();

    /// <summary>A tar of empty files (header blocks only) at the paths <paramref name="names"/> gives, parents first.</summary>
    static void WriteTar(string path, IEnumerable<(string Name, char Type)> members)
    {
        using var f = new BufferedStream(File.Create(path), 1 << 20);
        foreach (var (name, type) in members)
        {
            var h = RawTar.NewHeader("x", type, 0);
            if (name.Length > 100)
            {
                int cut = name.LastIndexOf('/', Math.Min(name.Length - 1, 154));
                h.Prefix(name[..cut]).Name(name[(cut + 1)..]);
            }
            else h.Name(name);
            if (type == '5') h.Mode(493);
            f.Write(h.Finish());
        }
        f.Write(new byte[1024]);
    }

    static IEnumerable<(string, char)> FlatDirectory(int n)
    {
        yield return ("d/", '5');
        for (int i = 0; i < n; i++) yield return ($"d/name-{i:D7}", '0');
    }

    /// <summary>A million members spread over directories of 1000.</summary>
    static IEnumerable<(string, char)> ManyMembers(int n)
    {
        for (int i = 0; i < n; i++)
        {
            if (i % 1000 == 0) yield return ($"g{i / 1000}/", '5');
            yield return ($"g{i / 1000}/f{i % 1000}", '0');
        }
    }

    /// <summary><paramref name="depth"/> nested directories, with 200 files at every level.</summary>
    static IEnumerable<(string, char)> DeepTree(int depth)
    {
        string dir = "";
        for (int level = 0; level < depth; level++)
        {
            dir += "d/";
            yield return (dir, '5');
            for (int i = 0; i < 200; i++) yield return (dir + "f" + i, '0');
        }
    }

    void ThroughEveryStage(string tar, string probe, bool extract = true)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var times = new List<string>();
        void Lap(string what) { times.Add($"{what} {sw.ElapsedMilliseconds} ms"); sw.Restart(); }
        using var stack = HostileTars.Open(tar);
        Lap("merge");
        var zar = _t["scale.zar"];
        ImageWriter.Write(stack.Merged, zar, ImageFormat.Zar);
        Lap("zar write");
        using (var image = ZarImage.Open(zar)) Assert.NotNull(image.Lookup(probe));
        Lap("zar read");
        var erofs = _t["scale.erofs"];
        ImageWriter.Write(stack.Merged, erofs, ImageFormat.Erofs);
        Lap("erofs write");
        using (var image = ErofsImage.Open(erofs))
        {
            Assert.NotNull(image.Lookup(probe));
            Assert.Equal(stack.Merged.Walk().Count(), image.Walk().Count());
        }
        Lap("erofs read");
        if (extract)
        {
            var target = _t["x"];
            Extractor.Extract(stack.Merged, target);
            Assert.True(Path.Exists(Path.Combine(target, probe)));
            Lap("extract");
            Directory.Delete(target, true);
            Lap("delete");
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", times));
    }

    static int ReadTar(string tar)
    {
        using var f = File.OpenRead(tar);
        using var reader = new TarReader(f, tar);
        int count = 0;
        while (reader.Next() != null) count++;
        return count;
    }

    [Fact]
    public void DirectoryOfManyNamesIsLinear()
    {
        Scaling.AssertLinear("a directory of n names through every stage", 5_000, n =>
        {
            var tar = _t[$"flat-{n}.tar"];
            WriteTar(tar, FlatDirectory(n));
            ThroughEveryStage(tar, $"d/name-{n - 1:D7}");
        });
    }

    [Fact]
    public void DeepTreeIsLinear()
    {
        Scaling.AssertLinear("a tree n levels deep through every stage", 10, depth =>
        {
            var tar = _t[$"deep-{depth}.tar"];
            WriteTar(tar, DeepTree(depth));
            ThroughEveryStage(tar, string.Concat(Enumerable.Repeat("d/", depth)) + "f199");
        });
    }

    [Fact, Trait("Category", "Long")]
    public void MillionTarMembersAreLinear()
    {
        Scaling.AssertLinear("tar reader over n members", 100_000, n =>
        {
            var tar = _t[$"many-{n}.tar"];
            if (!File.Exists(tar)) WriteTar(tar, ManyMembers(n));
            Assert.Equal(n + (n + 999) / 1000, ReadTar(tar));
        });
    }

    [Fact, Trait("Category", "Long")]
    public void DirectoryOfAMillionNamesIsLinear()
    {
        Scaling.AssertLinear("a directory of n names through every stage", 100_000, n =>
        {
            var tar = _t[$"flat-{n}.tar"];
            if (!File.Exists(tar)) WriteTar(tar, FlatDirectory(n));
            ThroughEveryStage(tar, $"d/name-{n - 1:D7}", extract: false); // extraction at scale: DirectoryOfManyNamesIsLinear
        });
    }
}
