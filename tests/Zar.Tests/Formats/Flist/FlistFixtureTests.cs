using System.Text;
using Microsoft.Data.Sqlite;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Stores;
using Zar.Tests.Stores;

namespace Zar.Tests.Formats.Flist;

/// <summary>The two real flists rfs made (shared/fixtures/flist): read exactly, and our encoding gives their ids.</summary>
public sealed class FlistFixtureTests
{
    static string Fixture(string name) => RepoPaths.Shared("fixtures/flist/" + name);

    sealed record Row(long Ino, long Parent, string Name, long Size, long Uid, long Gid, long Mode, long Mtime, byte[]? Target);

    /// <summary>The inode table read with plain SQL, paths built by following parents: the independent expectation.</summary>
    static Dictionary<long, (string Path, Row Row)> RawInodes(string fl)
    {
        using var c = new SqliteConnection($"Data Source={fl};Mode=ReadOnly;Pooling=False");
        c.Open();
        var rows = new Dictionary<long, Row>();
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "SELECT i.ino, i.parent, i.name, i.size, i.uid, i.gid, i.mode, i.mtime, e.data FROM inode i LEFT JOIN extra e ON e.ino = i.ino";
            using var r = cmd.ExecuteReader();
            while (r.Read())
                rows[r.GetInt64(0)] = new Row(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7),
                    r.IsDBNull(8) ? null : (byte[])r.GetValue(8));
        }
        string PathOf(Row row) => row.Parent == 0 ? "" : ZarPath.Join(PathOf(rows[row.Parent]), row.Name);
        return rows.ToDictionary(kv => kv.Key, kv => (PathOf(kv.Value), kv.Value));
    }

    [Theory]
    [InlineData("alpine-latest.fl", 527)]
    [InlineData("hello-world-latest.fl", 15)]
    public void ListsEveryInodeExactly(string name, int count)
    {
        var path = Fixture(name);
        var raw = RawInodes(path);
        Assert.Equal(count, raw.Count);
        using var fl = FlistImage.Open(path);
        IReadOnlyFileSystem fs = fl;
        var entries = fs.Walk().ToList();
        Assert.Equal(count, entries.Count);
        Assert.Equal(1, fs.Root.Inode);
        foreach (var e in entries)
        {
            var (expectedPath, row) = raw[e.Inode];
            Assert.Equal(expectedPath, e.Path);
            Assert.Equal((uint)row.Mode, e.UnixMode);
            Assert.Equal((uint)row.Uid, e.Uid);
            Assert.Equal((uint)row.Gid, e.Gid);
            Assert.Equal(row.Mtime, e.MtimeSeconds);
            Assert.Equal(0u, e.MtimeNanoseconds);
            if (e.IsRegular) Assert.Equal(row.Size, e.Size);
            if (e.Type == EntryType.Symlink)
            {
                Assert.Equal(Encoding.UTF8.GetString(row.Target!), e.LinkTarget);
                Assert.Equal(row.Size, Encoding.UTF8.GetByteCount(e.LinkTarget!));
            }
            else Assert.Null(row.Target);
            Assert.Empty(e.Xattrs);
            Assert.Equal(e.Inode, fs.Lookup(e.Path)!.Inode);
        }
    }

    [Fact]
    public void AlpineFacts()
    {
        using var fl = FlistImage.Open(Fixture("alpine-latest.fl"));
        IReadOnlyFileSystem fs = fl;
        var release = fs.Lookup("etc/alpine-release")!;
        Assert.Equal(105, release.Inode);
        Assert.Equal(7, release.Size);
        Assert.Equal("/bin/busybox", fs.Lookup("bin/arch")!.LinkTarget);
        Assert.Equal(192, fs.Lookup(".startup.toml")!.Size);
        Assert.Equal([new FlistRoute(0, 255, "dir:///tmp/rfs-e2e-tests/store")], fl.Routes);
        Assert.Empty(fl.Tags);
        // Our encoding of the 7 bytes gives the block rfs recorded.
        var chunk = Assert.Single(fs.GetData(release).Segments).Blob as FlistChunk;
        var ours = ChunkCodec.Encode("3.21.3\n"u8);
        Assert.Equal("2b9b2f6028c2a92e07fe4d10ddd43ef57761eb1e9d16cde04a39d319d59e286f", ChunkCodec.Hex(chunk!.Key));
        Assert.Equal("68ca892f2863d13ab37d13f07edbb3808b350a3a9c04b7eff9febbe4a3a57744", ChunkCodec.Hex(chunk.Id));
        Assert.Equal(chunk.Key, ours.Key);
        Assert.Equal(chunk.Id, ours.Id);
    }

    [Fact]
    public void AlpineStartupTomlIsByteForByteWhatWeWrite()
    {
        // rfs's docker command wrote alpine's /.startup.toml (192 bytes) from Cmd ["/bin/sh"] and the PATH:
        // the same config through our writer gives the same bytes, hence the same BLAKE2b key.
        var config = global::Zar.Oci.ImageConfig.Parse(Encoding.UTF8.GetBytes("""
            {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},
             "rootfs":{"type":"layers","diff_ids":[]}}
            """), "alpine config");
        var toml = StartupToml.From(config);
        Assert.Equal(192, toml.Length);
        using var fl = FlistImage.Open(Fixture("alpine-latest.fl"));
        IReadOnlyFileSystem fs = fl;
        var chunk = (FlistChunk)Assert.Single(fs.GetData(fs.Lookup(".startup.toml")!).Segments).Blob;
        Assert.Equal(ChunkCodec.Hex(chunk.Key), ChunkCodec.Hex(ChunkCodec.Hash(toml)));
        Assert.Equal(ChunkCodec.Hex(chunk.Id), ChunkCodec.Hex(ChunkCodec.Encode(toml).Id));
    }

    [Fact]
    public void HelloWorldFacts()
    {
        using var fl = FlistImage.Open(Fixture("hello-world-latest.fl"));
        IReadOnlyFileSystem fs = fl;
        Assert.Equal(0x1FDu, fs.Root.Mode); // 0775: the uid-1000 export's temp dir
        Assert.All(fs.Walk(), e => Assert.Equal((1000u, 1000u), (e.Uid, e.Gid)));
        var hello = fs.Lookup("hello")!;
        Assert.Equal((13256L, 0x1EDu), (hello.Size, hello.Mode));
        Assert.Equal("/proc/mounts", fs.Lookup("etc/mtab")!.LinkTarget);
        Assert.Equal(185, fs.Lookup(".startup.toml")!.Size);
        foreach (var init in new[] { ".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console" })
            Assert.Equal((0L, 0x1EDu), (fs.Lookup(init)!.Size, fs.Lookup(init)!.Mode));
        Assert.Equal(2, fs.Walk().Where(e => e.IsRegular).Sum(e => fs.GetData(e).Segments.Count));
        // Blobs are not shipped: reading says which store lacks which blob, in one line.
        var e = Assert.Throws<ContentStoreException>(() => fl.ReadAllBytes(hello));
        Assert.Contains("dir:///tmp/store0", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
