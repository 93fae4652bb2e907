using System.Formats.Tar;
using System.Text;
using Zar.Model;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Tar;

/// <summary>Source trees built once for all format tests (needs root for devices, owners and security.capability).</summary>
public sealed class TarTreesFixture : IDisposable
{
    public TempDir Dir { get; } = new();
    public bool Ready { get; }

    public TarTreesFixture()
    {
        if (Environment.UserName != "root") return;
        TarTestSupport.MakeTree(Dir["full"], TreeLevel.Full);
        TarTestSupport.MakeTree(Dir["full-utf8"], TreeLevel.Full, invalidUtf8Names: false);
        TarTestSupport.MakeTree(Dir["ustar"], TreeLevel.Ustar);
        TarTestSupport.MakeTree(Dir["v7"], TreeLevel.V7);
        TarTestSupport.MakeSparseTree(Dir["sparse"]);
        Ready = true;
    }

    public string Tree(TreeLevel level, bool invalidUtf8 = true) => level switch
    {
        TreeLevel.Full => invalidUtf8 ? Dir["full"] : Dir["full-utf8"],
        TreeLevel.Ustar => Dir["ustar"],
        _ => Dir["v7"],
    };

    public string Sparse => Dir["sparse"];

    public void Dispose() => Dir.Dispose();
}

/// <summary>Archives written by GNU tar, bsdtar and System.Formats.Tar read exactly as GNU tar extracts them.</summary>
public sealed class TarFormatTests(TarTreesFixture trees) : IClassFixture<TarTreesFixture>
{
    void Require(params string[] tools)
    {
        Tools.RequireRoot();
        foreach (var t in tools) Tools.Require(t);
        Assert.True(trees.Ready);
    }

    static void RunOk(string file, params string[] args)
    {
        var r = Tools.Run(file, args);
        Assert.True(r.Code == 0, $"{file} {string.Join(' ', args)} failed: {r.Err}");
    }

    static List<ReadEntry> ReadCompare(string tar, string outDir, string? sourceForDirectoryMtimes = null)
    {
        var entries = TarTestSupport.ReadAll(tar);
        Assert.NotEmpty(entries);
        TarTestSupport.AssertMatchesExtraction(entries, TarTestSupport.ExtractWithGnuTar(tar, outDir),
            sourceForDirectoryMtimes: sourceForDirectoryMtimes);
        TarTestSupport.AssertDataOffsets(tar, entries);
        return entries;
    }

    [Theory]
    [InlineData("gnu", TreeLevel.Full)]
    [InlineData("oldgnu", TreeLevel.Full)]
    [InlineData("posix", TreeLevel.Full)]
    [InlineData("ustar", TreeLevel.Ustar)]
    [InlineData("v7", TreeLevel.V7)]
    public void GnuTarFormatReadsWhatGnuTarExtracts(string format, TreeLevel level)
    {
        Require("tar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        RunOk("tar", $"--format={format}", "--xattrs", "--xattrs-include=*", "-cf", tar, "-C", trees.Tree(level), ".");
        var entries = ReadCompare(tar, tmp["x"]);

        var byPath = entries.ToDictionary(e => e.Entry.Path);
        Assert.Equal(EntryType.Hardlink, byPath["hard"].Entry.Type);
        Assert.Equal("s4096", byPath["hard"].Entry.LinkTarget);
        Assert.Equal("./s4096", byPath["hard"].Tar.RawLinkName);
        Assert.Equal(EntryType.Directory, byPath[""].Entry.Type);
        Assert.Equal(2021 - 1970, (int)(byPath["s1"].Entry.MtimeSeconds / 31557600));
        if (level != TreeLevel.V7)
        {
            Assert.Equal((1u, 7u), (byPath["chardev"].Entry.DevMajor, byPath["chardev"].Entry.DevMinor));
            Assert.Equal((7u, 200u), (byPath["blockdev"].Entry.DevMajor, byPath["blockdev"].Entry.DevMinor));
            Assert.Equal(EntryType.Fifo, byPath["fifo"].Entry.Type);
        }
        if (level == TreeLevel.Full)
        {
            Assert.Equal(2147483647u, byPath["bigid"].Entry.Uid);
            Assert.Equal(3000001u, byPath["midid"].Entry.Gid);
            Assert.True(byPath["old"].Entry.MtimeSeconds < 0);
            Assert.Contains(entries, e => e.Entry.Path.EndsWith(new string('n', 255)) && e.Entry.Path.Length > 500);
            if (format == "posix")
            {
                Assert.Equal(123456789u, byPath["s1"].Entry.MtimeNanoseconds);
                Assert.Equal(500000000u, byPath["old"].Entry.MtimeNanoseconds);
                var x = byPath["xattrs"].Entry;
                Assert.Equal(new byte[] { 0, 0xff, 0x0a, 0x3d, 0x3d, 0x0a, 0 }, x.GetXattr("user.bin"));
                Assert.Empty(x.GetXattr("user.empty")!);
                Assert.Equal(20, x.GetXattr("security.capability")!.Length);
                Assert.Equal(["security.capability", "user.bin", "user.empty", "user.text"], x.Xattrs.Select(a => a.Name));
            }
        }
        Assert.All(entries, e => Assert.False(e.Tar.Escapes));
    }

    [Theory]
    [InlineData("pax", TreeLevel.Full)]
    [InlineData("gnutar", TreeLevel.Full)]
    [InlineData("ustar", TreeLevel.Ustar)]
    [InlineData("v7", TreeLevel.V7)]
    public void BsdTarFormatReadsWhatGnuTarExtracts(string format, TreeLevel level)
    {
        Require("tar", "bsdtar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        RunOk("bsdtar", "--format", format, "-cf", tar, "-C", trees.Tree(level), ".");
        var entries = ReadCompare(tar, tmp["x"], trees.Tree(level));
        if (format == "pax")
        {
            // libarchive writes both LIBARCHIVE.xattr (base64) and SCHILY.xattr records.
            var x = entries.Single(e => e.Entry.Path == "xattrs");
            Assert.Equal(new byte[] { 0, 0xff, 0x0a, 0x3d, 0x3d, 0x0a, 0 }, x.Entry.GetXattr("user.bin"));
        }
    }

    [Theory]
    [InlineData(TarEntryFormat.Pax, TreeLevel.Full)]
    [InlineData(TarEntryFormat.Gnu, TreeLevel.Full)]
    [InlineData(TarEntryFormat.Ustar, TreeLevel.Ustar)]
    [InlineData(TarEntryFormat.V7, TreeLevel.V7)]
    public void SystemFormatsTarReadsWhatGnuTarExtracts(TarEntryFormat format, TreeLevel level)
    {
        Require("tar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        var root = trees.Tree(level, invalidUtf8: false);
        using (var fs = File.Create(tar))
        using (var w = new TarWriter(fs, format))
        {
            foreach (var path in WalkNoFollow(root))
            {
                var name = Path.GetRelativePath(root, path);
                if (format == TarEntryFormat.V7 && Encoding.UTF8.GetByteCount(name) >= 100) continue;
                w.WriteEntry(path, name);
            }
        }
        // System.Formats.Tar stores no xattrs; GNU tar then extracts none either.
        ReadCompare(tar, tmp["x"]);
    }

    [Theory]
    [InlineData("GNU_FORMAT", TreeLevel.Full)]
    [InlineData("PAX_FORMAT", TreeLevel.Full)]
    [InlineData("USTAR_FORMAT", TreeLevel.Ustar)]
    public void PythonTarfileReadsWhatGnuTarExtracts(string format, TreeLevel level)
    {
        Require("tar", "python3");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        var script = $"import tarfile,sys\nwith tarfile.open(sys.argv[1], 'w', format=tarfile.{format}) as t: t.add(sys.argv[2], arcname='.')";
        RunOk("python3", "-c", script, tar, trees.Tree(level, invalidUtf8: false));
        var entries = ReadCompare(tar, tmp["x"]);
        Assert.Contains(entries, e => e.Entry.Type == EntryType.Hardlink);
    }

    [Fact]
    public void GnuIncrementalDumpdirsAreDirectories()
    {
        Require("tar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        RunOk("tar", "--format=gnu", $"--listed-incremental={tmp["snar"]}", "-cf", tar, "-C", trees.Tree(TreeLevel.Ustar), ".");
        var entries = ReadCompare(tar, tmp["x"]);
        var dir = entries.Single(e => e.Entry.Path == "dir");
        Assert.Equal(EntryType.Directory, dir.Entry.Type);
        Assert.True(dir.Tar.StoredSize > 0); // the dumpdir listing
        Assert.Contains(entries, e => e.Entry.Path == "dir/sub/setuid" && e.Entry.Type == EntryType.Regular);
    }

    [Fact]
    public void GitArchiveGlobalHeaderIsNotAnEntry()
    {
        Require("tar", "git");
        using var tmp = new TempDir();
        var repo = tmp["repo"];
        Directory.CreateDirectory(Path.Combine(repo, "sub"));
        File.WriteAllText(Path.Combine(repo, "sub", "a.txt"), "alpha");
        File.WriteAllText(Path.Combine(repo, "b.sh"), "#!/bin/sh");
        Tools.Sh("chmod +x b.sh && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm init && git archive --format=tar -o ../t.tar HEAD", repo);
        var entries = ReadCompare(tmp["t.tar"], tmp["x"]);
        Assert.Equal(["b.sh", "sub", "sub/a.txt"], entries.Select(e => e.Entry.Path));
        Assert.Equal(40, entries[0].Tar.PaxRecords["comment"].Length); // the commit id from the global header
        Assert.Equal(0, entries[0].Tar.HeaderOffset);
        Assert.Equal(Convert.ToUInt32("775", 8), entries[0].Entry.Mode & Convert.ToUInt32("775", 8));
    }

    static IEnumerable<string> WalkNoFollow(string dir)
    {
        foreach (var path in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            yield return path;
            if (Directory.Exists(path) && new DirectoryInfo(path).LinkTarget == null)
                foreach (var p in WalkNoFollow(path)) yield return p;
        }
    }

    [Theory]
    [InlineData("gnu", null)]
    [InlineData("oldgnu", null)]
    [InlineData("posix", "0.0")]
    [InlineData("posix", "0.1")]
    [InlineData("posix", "1.0")]
    public void GnuTarSparseExtentsCoverTheData(string format, string? sparseVersion)
    {
        Require("tar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        var args = new List<string> { $"--format={format}", "-S", "-cf", tar, "-C", trees.Sparse, "." };
        if (sparseVersion != null) args.Insert(1, $"--sparse-version={sparseVersion}");
        RunOk("tar", args.ToArray());
        var entries = ReadCompare(tar, tmp["x"]);
        AssertSparse(entries, tar);
    }

    [Fact]
    public void BsdTarSparseExtentsCoverTheData()
    {
        Require("tar", "bsdtar");
        using var tmp = new TempDir();
        var tar = tmp["t.tar"];
        RunOk("bsdtar", "--format", "pax", "-cf", tar, "-C", trees.Sparse, ".");
        var entries = ReadCompare(tar, tmp["x"], trees.Sparse);
        AssertSparse(entries, tar);
    }

    static void AssertSparse(List<ReadEntry> entries, string tar)
    {
        var byPath = entries.ToDictionary(e => e.Entry.Path);
        foreach (var name in new[] { "holes-only", "one", "tail", "many" })
        {
            var e = byPath[name].Entry;
            Assert.True(e.IsSparse, $"{name} should be sparse");
            Assert.NotNull(byPath[name].Extents);
            Assert.Equal(byPath[name].Extents!.Sum(x => x.Length), byPath[name].Tar.StoredSize);
            Assert.True(byPath[name].Tar.StoredSize < e.Size);
            Assert.Equal(name, byPath[name].Tar.RawName.TrimStart('.', '/'));
        }
        Assert.Equal(64L << 20, byPath["many"].Entry.Size);
        Assert.True(byPath["many"].Extents!.Count >= 30, $"many: {byPath["many"].Extents!.Count} extents");
        Assert.Empty(byPath["holes-only"].Extents!);
        Assert.False(byPath["dense"].Entry.IsSparse && byPath["dense"].Extents!.Sum(x => x.Length) != 70000);
    }
}
