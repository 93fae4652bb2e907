using System.Text;
using Zar.Model;
using Zar.Overlay;
using Zar.Tests.Support;

namespace Zar.Tests.Overlay;

/// <summary>The overlay rules on small in-memory layers, one rule per test, in both whiteout forms.</summary>
public sealed class OverlayRulesTests
{
    static MemoryFileSystem Layer(string name) => new(name);

    static string Text(IReadOnlyFileSystem fs, string path) => Encoding.UTF8.GetString(fs.ReadAllBytes(fs.Stat(path)));

    static string Tree(IReadOnlyFileSystem fs) =>
        string.Join(" ", fs.Walk().Where(e => e.Path.Length > 0).Select(e => e.IsDirectory ? e.Path + "/" : e.Path));

    [Fact]
    public void TheTopMostLayerWinsAndDirectoriesMerge()
    {
        var lower = Layer("lower").Dir("d").File("d/a", "lower a").File("d/b", "lower b").File("top", "lower");
        var upper = Layer("upper").Dir("d", mode: 0b111_000_000).File("d/a", "upper a").File("d/c", "upper c");
        using var fs = new OverlayFileSystem([lower, upper]);
        Assert.Equal("d/ d/a d/b d/c top", Tree(fs));
        Assert.Equal("upper a", Text(fs, "d/a"));
        Assert.Equal("lower b", Text(fs, "d/b"));
        Assert.Equal(0b111_000_000u, fs.Stat("d").Mode);
    }

    [Theory]
    [InlineData(WhiteoutFormat.Aufs)]
    [InlineData(WhiteoutFormat.Overlay)]
    public void WhiteoutsDeleteLowerNamesOnly(WhiteoutFormat form)
    {
        var lower = Layer("lower").Dir("d").File("d/gone", "x").Dir("d/gonedir").File("d/gonedir/f", "y").File("d/kept", "z").File("d/back", "old");
        var upper = Layer("upper").Dir("d")
            .Add(Whiteouts.Make(form, "d", "gone", null))
            .Add(Whiteouts.Make(form, "d", "gonedir", null));
        if (form == WhiteoutFormat.Aufs) upper.Add(Whiteouts.Make(form, "d", "back", null)).File("d/back", "new");
        using var fs = new OverlayFileSystem([lower, upper]);
        Assert.Equal("d/ d/back d/kept", Tree(fs));
        Assert.Null(fs.Lookup("d/gone"));
        Assert.Null(fs.Lookup("d/gonedir/f"));
        Assert.Null(fs.Lookup("d/.wh.gone"));
        Assert.Null(fs.Lookup(fs.Stat("d"), "gone"));
        Assert.Equal(form == WhiteoutFormat.Aufs ? "new" : "old", Text(fs, "d/back"));
    }

    [Theory]
    [InlineData(WhiteoutFormat.Aufs)]
    [InlineData(WhiteoutFormat.Overlay)]
    public void OpaqueDirectoriesHideWhatIsBelow(WhiteoutFormat form)
    {
        var lower = Layer("lower").Dir("o").File("o/old", "x").Dir("o/sub").File("o/sub/deep", "y");
        var upper = Layer("upper");
        if (form == WhiteoutFormat.Aufs) upper.Dir("o").Add(Whiteouts.MakeOpaqueMarker("o", null));
        else upper.Add(Whiteouts.WithOpaqueXattr(new Entry { Path = "o", Type = EntryType.Directory, Mode = 0b111_101_101 }));
        upper.File("o/new", "n");
        using var fs = new OverlayFileSystem([lower, upper]);
        Assert.Equal("o/ o/new", Tree(fs));
        Assert.Empty(fs.Stat("o").Xattrs);
    }

    [Fact]
    public void AFileHidesALowerDirectoryAndADirectoryALowerFile()
    {
        var lower = Layer("lower").Dir("was-dir").File("was-dir/child", "x").File("was-file", "y");
        var upper = Layer("upper").File("was-dir", "now a file").Dir("was-file").File("was-file/inner", "z");
        using var fs = new OverlayFileSystem([lower, upper]);
        Assert.Equal("was-dir was-file/ was-file/inner", Tree(fs));
        Assert.Null(fs.Lookup("was-dir/child"));
        // A lower directory under an upper file stays hidden even for the middle layer's point of view.
        var middle = Layer("middle").Dir("was-dir").File("was-dir/m", "m");
        using var three = new OverlayFileSystem([lower, middle, upper]);
        Assert.Null(three.Lookup("was-dir/m"));
    }

    [Fact]
    public void HardlinksKeepOneInodeAndCountVisibleNames()
    {
        var lower = Layer("lower")
            .Add(new Entry { Path = "a", Type = EntryType.Regular, Mode = 0b110_100_100, Inode = 7, LinkCount = 3 }, "same"u8.ToArray())
            .Add(new Entry { Path = "b", Type = EntryType.Regular, Mode = 0b110_100_100, Inode = 7, LinkCount = 3 }, "same"u8.ToArray())
            .Add(new Entry { Path = "c", Type = EntryType.Regular, Mode = 0b110_100_100, Inode = 7, LinkCount = 3 }, "same"u8.ToArray());
        var upper = Layer("upper").Add(Whiteouts.Make(WhiteoutFormat.Aufs, "", "c", null));
        using var fs = new OverlayFileSystem([lower, upper]);
        Assert.Equal(fs.Stat("a").Inode, fs.Stat("b").Inode);
        Assert.Equal(2u, fs.Stat("a").LinkCount);
        Assert.Null(fs.Lookup("c"));
    }

    [Fact]
    public void InodeNumbersAreUniqueNonZeroAndStable()
    {
        var lower = Layer("lower").Dir("d").File("d/x", "1").File("y", "2");
        var upper = Layer("upper").Dir("d").File("d/z", "3");
        using var fs = new OverlayFileSystem([lower, upper]);
        var first = fs.Walk().ToDictionary(e => e.Path, e => e.Inode);
        Assert.DoesNotContain(0L, first.Values);
        Assert.Equal(first.Count, first.Values.Distinct().Count());
        foreach (var (path, ino) in first)
        {
            Assert.Equal(ino, fs.Lookup(path)!.Inode);
            if (path.Length > 0) Assert.Equal(ino, fs.Lookup(fs.Lookup(ZarPath.Parent(path))!, ZarPath.Name(path))!.Inode);
        }
        Assert.Equal(first, fs.Walk().ToDictionary(e => e.Path, e => e.Inode));
    }

    [Fact]
    public void AnEntryFromElsewhereIsAClearError()
    {
        var lower = Layer("lower").File("f", "x");
        using var fs = new OverlayFileSystem([lower]);
        var foreign = new Entry { Path = "f", Type = EntryType.Regular, Size = 1, Inode = 999 };
        var e = Assert.Throws<ZarException>(() => fs.ReadAllBytes(foreign));
        Assert.Contains("does not belong", e.Message);
        fs.Dispose();
        Assert.Throws<ObjectDisposedException>(() => fs.Lookup("f"));
    }
}
