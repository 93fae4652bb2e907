using System.Diagnostics;
using Zar.Consumers;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Consumers;

public class ExtractorTests
{
    [Fact]
    public void ExtractingTheFixtureReproducesItExactly()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        TreeFixture.CreateEverything(t["src"]);
        ExtractSummary summary;
        using (var src = new HostDirectory(t["src"])) summary = Extractor.Extract(src, t["out"]);

        using var a = new HostDirectory(t["src"]);
        using var b = new HostDirectory(t["out"]);
        var diffs = Differ.Compare(a, b);
        Assert.True(diffs.Count == 0, Differ.Render(diffs));

        Assert.Equal(2, summary.Hardlinks);
        Assert.Equal(2, summary.Devices);
        Assert.Equal(1, summary.Fifos);
        Assert.Equal(1, summary.Sockets);
        Assert.Equal(5, summary.Symlinks);
        Assert.Empty(summary.Warnings);
        Assert.Equal(((IReadOnlyFileSystem)a).Walk().Count() - 1, summary.Entries);

        // Holes stay holes: same data extents, far fewer blocks than the logical size.
        var sparseA = a.Lookup(TreeFixture.SmallSparse)!;
        var sparseB = b.Lookup(TreeFixture.SmallSparse)!;
        Assert.True(sparseB.IsSparse);
        Assert.Equal(a.GetExtents(sparseA), b.GetExtents(sparseB));
        Assert.Equal(3 * 4096 + 0L, summary.Bytes - NonSparseBytes(a));

        // The three hardlink names are one inode in the output.
        var inodes = TreeFixture.HardlinkGroup.Select(p => b.Lookup(p)!.Inode).Distinct().ToList();
        Assert.Single(inodes);
        Assert.Equal(3u, b.Lookup(TreeFixture.HardlinkGroup[0])!.LinkCount);
    }

    static long NonSparseBytes(IReadOnlyFileSystem fs) =>
        fs.Walk().Where(e => e.IsRegular && !e.IsSparse).GroupBy(e => e.Inode).Sum(g => g.First().Size);

    /// <summary>Independent of Differ and HostDirectory: find, stat, getfattr and sha256sum see the same two trees.</summary>
    [Fact]
    public void ExtractedTreeMatchesSourceUnderReferenceTools()
    {
        Tools.RequireRoot();
        Tools.Require("getfattr");
        using var t = new TempDir();
        TreeFixture.CreateEverything(t["src"]);
        using (var src = new HostDirectory(t["src"])) Extractor.Extract(src, t["out"]);

        const string script = """
            cd "$1"
            find . -printf '%p|%y|%m|%U:%G|%T@|%n|%l\n' | LC_ALL=C sort
            find . -type f -printf '%p %s\n' | LC_ALL=C sort
            find . \( -type b -o -type c \) -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %t:%T'
            find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
            find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex
            """;
        var expected = Tools.Run("/bin/bash", new[] { "-c", script, "x", t["src"] });
        var actual = Tools.Run("/bin/bash", new[] { "-c", script, "x", t["out"] });
        Assert.Equal(0, expected.Code);
        Assert.Contains("security.capability=0x0100000200200000", expected.Out);
        Assert.Contains("|s|755|", expected.Out); // the socket is listed
        Assert.Equal(expected.Out, actual.Out);
    }

    [Fact]
    public void SparseFileOver2GiBIsExtractedWithHolesFast()
    {
        using var t = new TempDir();
        TreeFixture.CreateEverything(t["src"], new TreeOptions { Large = true, Privileged = false });
        var sw = Stopwatch.StartNew();
        using (var src = new HostDirectory(t["src"])) Extractor.Extract(src, t["out"]);
        var extractTime = sw.Elapsed;
        using var a = new HostDirectory(t["src"]);
        using var b = new HostDirectory(t["out"]);
        var big = b.Lookup(TreeFixture.LargeSparse)!;
        Assert.Equal(TreeFixture.LargeSparseSize, big.Size);
        Assert.Equal(a.GetExtents(a.Lookup(TreeFixture.LargeSparse)!), b.GetExtents(big));
        var diffs = Differ.Compare(a, b, new DiffOptions { IgnoreOwnership = true });
        Assert.True(diffs.Count == 0, Differ.Render(diffs));
        Assert.True(extractTime < TimeSpan.FromSeconds(30), $"extraction took {extractTime}");
    }

    [Fact]
    public void HardlinkEntriesHolesAndAttributesFromAnyReader()
    {
        using var t = new TempDir();
        var data = new byte[3 << 20];
        new Random(7).NextBytes(data.AsSpan(0, 5000));
        new Random(8).NextBytes(data.AsSpan(2 << 20, 4096));
        var fs = new MemoryFileSystem()
            .Dir("d")
            .Add(new Entry
            {
                Path = "d/sparse", Type = EntryType.Regular, Mode = 0b110_100_100, Size = data.Length, IsSparse = true,
                MtimeSeconds = -5, MtimeNanoseconds = 999_999_999,
            }, data, new[] { new DataExtent(0, 8192), new DataExtent(2 << 20, 4096) })
            .File("d/x", "hello")
            .Hardlink("d/y", "d/x")
            .Add(new Entry { Path = "e", Type = EntryType.Regular, Mode = 0b110_100_100, Inode = 42, LinkCount = 2 }, "same"u8.ToArray())
            .Add(new Entry { Path = "f", Type = EntryType.Regular, Mode = 0b110_100_100, Inode = 42, LinkCount = 2 }, "same"u8.ToArray());
        var summary = Extractor.Extract(fs, t["out"]);
        Assert.Equal(2, summary.Hardlinks);
        Assert.Equal(8192 + 4096 + 5 + 4, summary.Bytes);

        using var host = new HostDirectory(t["out"]);
        var sparse = host.Lookup("d/sparse")!;
        Assert.Equal(data, host.ReadAllBytes(sparse));
        Assert.Equal(new[] { new DataExtent(0, 8192), new DataExtent(2 << 20, 4096) }, host.GetExtents(sparse));
        Assert.Equal(-5, sparse.MtimeSeconds);
        Assert.Equal(999_999_999u, sparse.MtimeNanoseconds);
        Assert.Equal(host.Lookup("d/x")!.Inode, host.Lookup("d/y")!.Inode);
        Assert.Equal(host.Lookup("e")!.Inode, host.Lookup("f")!.Inode);
        Assert.NotEqual(host.Lookup("d/x")!.Inode, host.Lookup("e")!.Inode);
    }

    [Fact]
    public void ExistingFilesAreRefusedUnlessOverwrite()
    {
        using var t = new TempDir();
        var fs = new MemoryFileSystem().Dir("d").File("d/f", "new");
        Directory.CreateDirectory(t["out/d"]);
        File.WriteAllText(t["out/d/f"], "old contents");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("d/f", e.Message);
        Assert.Contains("already exists", e.Message);
        Assert.Equal("old contents", File.ReadAllText(t["out/d/f"]));

        Extractor.Extract(fs, t["out"], new ExtractOptions { Overwrite = true });
        Assert.Equal("new", File.ReadAllText(t["out/d/f"]));
    }

    [Fact]
    public void PathsLongerThanPathMaxAreExtracted()
    {
        using var t = new TempDir();
        var fs = new MemoryFileSystem();
        var path = "";
        for (int i = 0; i < 40; i++) fs.Dir(path = ZarPath.Join(path, new string((char)('a' + i % 26), 200)));
        fs.File(path + "/leaf", "deep");
        fs.Symlink(path + "/link", "leaf");
        Assert.True(ZarPath.ByteCount(path) > 4096);
        var summary = Extractor.Extract(fs, t["out"]);
        Assert.Equal(42, summary.Entries);
        using var host = new HostDirectory(t["out"]);
        Assert.Equal("deep"u8.ToArray(), host.ReadAllBytes(host.Lookup(path + "/leaf")!));
        Assert.Equal("leaf", host.Lookup(path + "/link")!.LinkTarget);
    }

    [Fact]
    public void NonUtf8NamesAndBinaryXattrsSurvive()
    {
        using var t = new TempDir();
        var name = "dir-\udcff\udcfe/file-\udc80";
        var fs = new MemoryFileSystem()
            .Dir("dir-\udcff\udcfe")
            .Add(new Entry
            {
                Path = name, Type = EntryType.Regular, Mode = 0b110_100_100,
                Xattrs = new[] { new Xattr("user.bin", new byte[] { 0, 0xff, 0 }), new Xattr("user.empty", Array.Empty<byte>()) },
            }, "x"u8.ToArray())
            .Add(new Entry { Path = "sym", Type = EntryType.Symlink, Mode = 0b111_111_111, LinkTarget = "t\udcff",
                Xattrs = new[] { new Xattr("user.refused", new byte[] { 1 }) } });
        var summary = Extractor.Extract(fs, t["out"]);
        // Linux allows no user.* xattr on a symlink: reported, not fatal.
        Assert.Equal(new[] { "sym: xattr user.refused not set: Linux allows user.* xattrs only on files and directories" }, summary.Warnings);
        // The bytes on disk, as find prints them: "dir-" ff fe "/file-" 80.
        Assert.Equal("6469722dfffe2f66696c652d80", Tools.Sh($"cd '{t["out"]}' && find dir-* -type f -printf %p | od -An -tx1 | tr -d ' \\n'"));
        using var host = new HostDirectory(t["out"]);
        var e = host.Lookup(name)!;
        Assert.Equal(new byte[] { 0, 0xff, 0 }, e.GetXattr("user.bin"));
        Assert.Equal(Array.Empty<byte>(), e.GetXattr("user.empty"));
        Assert.Equal("t\udcff", host.Lookup("sym")!.LinkTarget);
    }

    [Fact]
    public void ExtractingIntoAnExistingDirectoryMergesAndReportsProgress()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["out/d"]);
        File.WriteAllText(t["out/d/kept"], "kept");
        var fs = new MemoryFileSystem().Dir("d").File("d/new", new byte[3 << 20]).File("top", "t");
        var reports = new List<ExtractProgress>();
        var summary = Extractor.Extract(fs, t["out"], progress: new RecordingProgress<ExtractProgress>(reports));
        Assert.Equal("kept", File.ReadAllText(t["out/d/kept"]));
        Assert.Equal(3 << 20, new FileInfo(t["out/d/new"]).Length);
        Assert.Equal(new[] { "d", "d/new", "top" }, reports.Select(r => r.Path));
        Assert.Equal(summary.Bytes, reports[^1].Bytes);
        Assert.Equal(3, reports[^1].Entries);
    }

    [Fact]
    public void SelectedPathsOnly()
    {
        using var t = new TempDir();
        var fs = new MemoryFileSystem(rootMode: 0b111_000_000).Dir("a").Dir("a/b", 0b111_000_000).File("a/b/f", "f").File("a/bc", "x").File("z", "z");
        Extractor.Extract(fs, t["out"], new ExtractOptions { Paths = new[] { "a/b" } });
        using var host = new HostDirectory(t["out"]);
        Assert.Equal(new[] { "", "a", "a/b", "a/b/f" }, ((IReadOnlyFileSystem)host).Walk().Select(e => e.Path));
        Assert.Equal(0b111_000_000u, host.Lookup("a/b")!.Mode);
        Assert.NotEqual(0b111_000_000u, host.Root.Mode); // root attributes belong to a full extraction
    }

    // ---- safety: a crafted image must never write outside the target ----

    static void AssertEmpty(string dir) => Assert.Empty(Directory.EnumerateFileSystemEntries(dir));

    [Fact]
    public void SymlinkedParentInImageIsRefused()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        var fs = new MemoryFileSystem("crafted") { RawOrder = true }
            .Symlink("a", t["outside"])
            .File("a/evil", "pwned");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("a/evil", e.Message);
        AssertEmpty(t["outside"]);
    }

    [Fact]
    public void SymlinkedParentIsRefusedEvenWithOverwriteAndDirectoryEntry()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        // "a" arrives twice: first as a symlink out, then as a directory; with Overwrite the link
        // is replaced by a real directory, without it the entry is refused. Never followed.
        MemoryFileSystem Image() => new MemoryFileSystem("crafted") { RawOrder = true }
            .Symlink("a", t["outside"]).Dir("a").File("a/evil", "pwned");
        Assert.Throws<ZarException>(() => Extractor.Extract(Image(), t["out1"]));
        AssertEmpty(t["outside"]);
        Extractor.Extract(Image(), t["out2"], new ExtractOptions { Overwrite = true });
        AssertEmpty(t["outside"]);
        Assert.Equal("pwned", File.ReadAllText(t["out2/a/evil"]));
        Assert.False(new FileInfo(t["out2/a"]).Attributes.HasFlag(FileAttributes.ReparsePoint));
    }

    [Fact]
    public void SymlinkAlreadyInTargetIsNotFollowed()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        Directory.CreateDirectory(t["out"]);
        File.CreateSymbolicLink(t["out/sub"], t["outside"]);
        File.CreateSymbolicLink(t["out/file"], t["outside"] + "/victim");
        var fs = new MemoryFileSystem().Dir("sub").File("sub/evil", "pwned");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("sub", e.Message);
        // A file entry over a planted symlink replaces the link, it does not write through it.
        Extractor.Extract(new MemoryFileSystem().File("file", "data"), t["out"], new ExtractOptions { Overwrite = true });
        AssertEmpty(t["outside"]);
        Assert.Equal("data", File.ReadAllText(t["out/file"]));
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("a/../../evil")]
    [InlineData("./evil/..")]
    [InlineData("a//evil")]
    public void DotDotAndOddPathsAreRefused(string path)
    {
        using var t = new TempDir();
        var fs = new MemoryFileSystem("crafted") { RawOrder = true }.Dir("a").File(path, "pwned");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out/inner"]));
        Assert.Contains(ZarPath.Display(path), e.Message);
        Assert.Equal(new[] { "out" }, Directory.EnumerateFileSystemEntries(t.Path).Select(Path.GetFileName));
        Assert.Equal(new[] { "a" }, Directory.EnumerateFileSystemEntries(t["out/inner"]).Select(Path.GetFileName));
    }

    [Fact]
    public void AbsolutePathsAreRefused()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        var fs = new MemoryFileSystem("crafted") { RawOrder = true }.File(t["outside"] + "/evil", "pwned");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("/evil", e.Message);
        AssertEmpty(t["outside"]);
    }

    [Fact]
    public void HardlinkToAPathOutsideIsRefused()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        File.WriteAllText(t["outside/secret"], "secret");
        var fs = new MemoryFileSystem("crafted") { RawOrder = true }.Hardlink("link", "../outside/secret");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("link", e.Message);
        using (var o0 = new HostDirectory(t["outside"])) Assert.Equal(1u, o0.Lookup("secret")!.LinkCount);

        // Via a symlinked directory inside the image: the link source is resolved without following.
        var fs2 = new MemoryFileSystem("crafted") { RawOrder = true }
            .Symlink("dir", t["outside"]).Hardlink("link", "dir/secret");
        Assert.Throws<ZarException>(() => Extractor.Extract(fs2, t["out2"]));
        Assert.False(File.Exists(t["out2/link"]));

        // A hardlink to a symlink that points outside links the symlink itself, never its target.
        var fs3 = new MemoryFileSystem("crafted") { RawOrder = true }
            .Symlink("sym", t["outside/secret"]).Hardlink("link", "sym");
        Extractor.Extract(fs3, t["out3"]);
        using var o3 = new HostDirectory(t["out3"]);
        Assert.Equal(EntryType.Symlink, o3.Lookup("link")!.Type);
        using (var o = new HostDirectory(t["outside"])) Assert.Equal(1u, o.Lookup("secret")!.LinkCount);
    }

    [Fact]
    public void PlantedHardlinkInTargetIsReplacedNotWrittenThrough()
    {
        using var t = new TempDir();
        Directory.CreateDirectory(t["outside"]);
        Directory.CreateDirectory(t["out"]);
        File.WriteAllText(t["outside/victim"], "original");
        Tools.Sh($"ln '{t["outside/victim"]}' '{t["out/file"]}'");
        Extractor.Extract(new MemoryFileSystem().File("file", "new data"), t["out"], new ExtractOptions { Overwrite = true });
        Assert.Equal("original", File.ReadAllText(t["outside/victim"]));
        Assert.Equal("new data", File.ReadAllText(t["out/file"]));
    }

    [Fact]
    public void NameWithNulIsRefused()
    {
        using var t = new TempDir();
        var fs = new MemoryFileSystem("crafted") { RawOrder = true }.File("a\0b", "x");
        var e = Assert.Throws<ZarException>(() => Extractor.Extract(fs, t["out"]));
        Assert.Contains("NUL", e.Message);
    }
}
