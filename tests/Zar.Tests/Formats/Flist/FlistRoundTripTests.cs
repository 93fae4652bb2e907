using Microsoft.Data.Sqlite;
using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Flist;

/// <summary>
/// A tree with every kind of entry through <c>zar flist</c> into an fl and a dir store, back out with
/// <c>zar extract</c>: equal in everything an flist carries. What it cannot carry is asserted as such:
/// no xattrs, hard links become separate files with the same blobs, times in whole seconds, and names
/// that are not UTF-8 get U+FFFD for their bad bytes (as rfs does).
/// </summary>
public sealed class FlistRoundTripTests
{
    static readonly (string Path, int Size)[] ChunkEdges =
    [
        ("chunks/c524287", 524287), ("chunks/c524288", 524288), ("chunks/c524289", 524289), ("chunks/few-mib", 5 * 1024 * 1024 + 3),
        ("chunks/twice-a", 1_100_000), ("chunks/twice-b", 1_100_000),
    ];

    public static string MakeTree(TempDir t)
    {
        var src = t["src"];
        TreeFixture.CreateEverything(src);
        Directory.CreateDirectory(Path.Combine(src, "chunks"));
        var rng = new Random(20261202);
        foreach (var (p, size) in ChunkEdges)
        {
            var data = new byte[size];
            if (p.Contains("twice")) new Random(5).NextBytes(data); else rng.NextBytes(data);
            File.WriteAllBytes(Path.Combine(src, p), data);
        }
        File.WriteAllText(Path.Combine(src, "names/日本語 ファイル"), "unicode\n");
        return src;
    }

    static bool IsNonUtf8(string path) => path.Any(c => c is >= '\uDC80' and <= '\uDCFF');

    /// <summary>The differences an flist is allowed to have from its source.</summary>
    static List<Difference> Unexpected(IReadOnlyList<Difference> diffs) => diffs.Where(d =>
        d.Kind is not (DifferenceKind.Xattr or DifferenceKind.Hardlink)
        && !(d.Kind == DifferenceKind.OnlyInA && IsNonUtf8(d.Path))
        && !(d.Kind == DifferenceKind.OnlyInB && d.Path.Contains('\uFFFD'))).ToList();

    static readonly DiffOptions FlistLimits = new() { MtimeGranularityNanoseconds = 1_000_000_000 };

    [Fact]
    public void EveryKindOfEntryRoundTripsThroughExtract()
    {
        using var t = new TempDir();
        var src = MakeTree(t);
        var fl = t["tree.fl"];
        var r = ZarCli.Run("flist", src, "-s", "dir://" + t["store"], "-o", fl);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("extended attributes are not kept", r.Err);
        Assert.Contains("hard links become separate files", r.Err);
        Assert.False(File.Exists(fl + "-journal"));
        Assert.False(File.Exists(fl + "-wal"));

        using var source = new HostDirectory(src);
        using (var image = FlistImage.Open(fl))
        {
            var direct = Differ.Compare(source, image, FlistLimits);
            Assert.True(Unexpected(direct).Count == 0, Differ.Render(Unexpected(direct).Take(20)));
            IReadOnlyFileSystem fs = image;
            Assert.All(fs.Walk(), e => { Assert.Empty(e.Xattrs); Assert.Equal(0u, e.MtimeNanoseconds); });
            // Hard links: one inode per name, the same blocks.
            var links = TreeFixture.HardlinkGroup.Select(p => fs.Lookup(p)!).ToList();
            Assert.Equal(3, links.Select(e => e.Inode).Distinct().Count());
            Assert.Single(links.Select(e => ChunkCodec.Hex(((FlistChunk)fs.GetData(e).Segments[0].Blob).Id)).Distinct());
            // Non-UTF-8 names: U+FFFD per bad byte, content intact.
            var bad = fs.Lookup("names/bad-\uFFFD\uFFFD")!;
            Assert.Equal(source.ReadAllBytes(source.Lookup(TreeFixture.NonUtf8Name)!), fs.ReadAllBytes(bad));
            Assert.NotNull(fs.Lookup("names/bad-dir-\uFFFD/inner"));
            foreach (var (p, size) in ChunkEdges)
                Assert.Equal((size + ChunkCodec.ChunkSize - 1) / ChunkCodec.ChunkSize, fs.GetData(fs.Lookup(p)!).Segments.Count);
        }

        var out1 = t["out"];
        r = ZarCli.Run("extract", fl, out1);
        Assert.True(r.Code == 0, r.Err);
        using var extracted = new HostDirectory(out1);
        var diffs = Differ.Compare(source, extracted, FlistLimits);
        Assert.True(Unexpected(diffs).Count == 0, Differ.Render(Unexpected(diffs).Take(20)));
        Assert.Contains(diffs, d => d.Kind == DifferenceKind.Xattr);
    }

    [Fact]
    public void EveryKindOfEntryRoundTripsThroughMount()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var src = MakeTree(t);
        var fl = t["tree.fl"];
        var r = ZarCli.Run("flist", src, "-s", "dir://" + t["store"], "-o", fl);
        Assert.True(r.Code == 0, r.Err);
        Directory.CreateDirectory(t["mnt"]);
        // Its own cache: chunks must come from the fl's store through the mount, not from another test's.
        var m = ZarCli.Run("mount", "--background", "--cache", t["cache"], fl, t["mnt"]);
        Assert.True(m.Code == 0, m.Err);
        try
        {
            using var source = new HostDirectory(src);
            using var mounted = new HostDirectory(t["mnt"]);
            var diffs = Differ.Compare(source, mounted, FlistLimits);
            Assert.True(Unexpected(diffs).Count == 0, Differ.Render(Unexpected(diffs).Take(20)));
            foreach (var (p, _) in ChunkEdges)
                Assert.Equal(File.ReadAllBytes(Path.Combine(src, p)), File.ReadAllBytes(Path.Combine(t["mnt"], p)));
        }
        finally
        {
            var u = ZarCli.Run("umount", t["mnt"]);
            Assert.True(u.Code == 0, u.Err);
        }
    }

    [Fact]
    public void TheFlIsWhatRfsWrites()
    {
        using var t = new TempDir();
        var src = t["src"];
        Directory.CreateDirectory(Path.Combine(src, "usr/bin"));
        File.WriteAllText(Path.Combine(src, "hello.txt"), "hello world\n");
        File.CreateSymbolicLink(Path.Combine(src, "bin"), "usr/bin");
        var r = ZarCli.Run("flist", src, "-s", "dir://" + t["store"], "-o", t["x.fl"]);
        Assert.True(r.Code == 0, r.Err);
        using var c = new SqliteConnection($"Data Source={t["x.fl"]};Mode=ReadOnly;Pooling=False");
        c.Open();
        string Scalar(string sql) { using var cmd = c.CreateCommand(); cmd.CommandText = sql; return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) ?? ""; }
        Assert.Equal("delete", Scalar("PRAGMA journal_mode"));
        Assert.Equal("1|0|/|4096|16877", Scalar("SELECT ino || '|' || parent || '|' || name || '|' || size || '|' || mode FROM inode WHERE ino = 1"));
        Assert.Equal("text", Scalar("SELECT DISTINCT typeof(name) FROM inode"));
        Assert.Equal("blob|32|blob|32", Scalar("SELECT DISTINCT typeof(id) || '|' || length(id) || '|' || typeof(key) || '|' || length(key) FROM block"));
        Assert.Equal("d139c46e6cc65acfa2eef1d0cd7abf014667fdc9a5ca75d9184671f97301a0db", Scalar("SELECT lower(hex(id)) FROM block"));
        Assert.Equal("blob|usr/bin|7|41471", Scalar("SELECT typeof(e.data) || '|' || CAST(e.data AS TEXT) || '|' || i.size || '|' || i.mode FROM extra e JOIN inode i ON i.ino = e.ino"));
        Assert.Equal($"0|255|dir://{t["store"]}", Scalar("SELECT start || '|' || \"end\" || '|' || url FROM route"));
        Assert.Equal("0", Scalar("SELECT count(*) FROM tag"));
        Assert.Equal("5", Scalar("SELECT seq FROM sqlite_sequence WHERE name = 'inode'"));
        Assert.Equal(FlistDatabase.Schema.Replace("IF NOT EXISTS ", "").Split(';')[0].Trim(), Scalar("SELECT sql FROM sqlite_master WHERE name = 'inode'"));
        Assert.True(File.Exists(Path.Combine(t["store"], "d1", "d139c46e6cc65acfa2eef1d0cd7abf014667fdc9a5ca75d9184671f97301a0db")));
    }
}
