using Microsoft.Data.Sqlite;
using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Stores;
using Zar.Tests.Consumers.Cfs;
using Zar.Tests.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Flist;

/// <summary>The flist commands as a user runs them: bad input is one line and exit 2; rfs's pack/unpack/clone/config; docker2fl.</summary>
public sealed class FlistCliTests
{
    /// <summary>A small tree in an fl with a dir store: (fl, store, source).</summary>
    static (string Fl, string Store, string Src) Small(TempDir t)
    {
        var src = t["src"];
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        File.WriteAllText(Path.Combine(src, "etc/motd"), "welcome to the flist\n");
        var big = new byte[1_300_000];
        new Random(3).NextBytes(big);
        File.WriteAllBytes(Path.Combine(src, "big"), big);
        var r = ZarCli.Run("flist", src, "-s", "dir://" + t["store"], "-o", t["x.fl"]);
        Assert.True(r.Code == 0, r.Err);
        return (t["x.fl"], t["store"], src);
    }

    // Runs that damage or replace a store read through their own --cache: the default cache is shared and
    // content-addressed, so another test's identical chunk would be served from it (correctly) and hide the damage.
    static void AssertOneLineError((int Code, string Out, string Err) r, string expected)
    {
        Assert.True(r.Code == 2, $"exit {r.Code}: {r.Err}");
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.Err);
        Assert.StartsWith("zar: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    static string BlobPath(string store, string fl, string file)
    {
        using var image = FlistImage.Open(fl);
        IReadOnlyFileSystem fs = image;
        var id = ((FlistChunk)fs.GetData(fs.Lookup(file)!).Segments[0].Blob).Id;
        return new DirStore(store).ShardedPath(id);
    }

    [Fact]
    public void CorruptedBlob()
    {
        using var t = new TempDir();
        var (fl, store, _) = Small(t);
        var blob = BlobPath(store, fl, "etc/motd");
        var bytes = File.ReadAllBytes(blob);
        bytes[4] ^= 0x55;
        File.WriteAllBytes(blob, bytes);
        AssertOneLineError(ZarCli.Run("cat", fl, "etc/motd", "--cache", t["cache"]), "corrupted");
        AssertOneLineError(ZarCli.Run("extract", fl, t["out"], "--cache", t["cache"]), "corrupted");
    }

    [Fact]
    public void MissingBlob()
    {
        using var t = new TempDir();
        var (fl, store, _) = Small(t);
        File.Delete(BlobPath(store, fl, "big"));
        AssertOneLineError(ZarCli.Run("cat", fl, "big", "--cache", t["cache"]), "is in none of the stores");
        Assert.Equal(0, ZarCli.Run("cat", fl, "etc/motd").Code);
    }

    [Fact]
    public void WrongKey()
    {
        using var t = new TempDir();
        var (fl, _, _) = Small(t);
        using (var c = new SqliteConnection($"Data Source={fl};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE block SET key = randomblob(32) WHERE ino = (SELECT ino FROM inode WHERE name = 'motd')";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        AssertOneLineError(ZarCli.Run("cat", fl, "etc/motd"), "cannot decrypt");
    }

    [Fact]
    public void TruncatedFl()
    {
        using var t = new TempDir();
        var (fl, _, _) = Small(t);
        var bytes = File.ReadAllBytes(fl);
        foreach (int keep in new[] { bytes.Length / 2, 100, 16 })
        {
            File.WriteAllBytes(t["cut.fl"], bytes[..keep]);
            var r = ZarCli.Run("ls", "-R", t["cut.fl"]);
            AssertOneLineError(r, "cut.fl");
        }
    }

    [Fact]
    public void UnknownStoreScheme()
    {
        using var t = new TempDir();
        var (fl, _, src) = Small(t);
        AssertOneLineError(ZarCli.Run("flist", src, "-s", "ftp://host/x", "-o", t["y.fl"]), "unknown store type 'ftp'");
        Assert.False(File.Exists(t["y.fl"]));
        // An fl whose route is a store kind we do not speak (rfs's development server://).
        Assert.Equal(0, ZarCli.Run("flist", "config", "-m", fl, "store", "delete", "--all").Code);
        Assert.Equal(0, ZarCli.Run("flist", "config", "-m", fl, "store", "add", "-s", "dir:///placeholder").Code);
        using (var c = new SqliteConnection($"Data Source={fl};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE route SET url = 'server://http://127.0.0.1:4000'";
            cmd.ExecuteNonQuery();
        }
        Assert.Equal(0, ZarCli.Run("ls", fl).Code); // listing needs no store
        AssertOneLineError(ZarCli.Run("cat", fl, "etc/motd", "--cache", t["cache"]), "unknown store type 'server'");
    }

    [Fact]
    public void NothingIsWrittenWhenStoresCannotTakeTheBlobs()
    {
        using var t = new TempDir();
        var src = t["src"];
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "f"), "data");
        // A gap in the ranges: refused before anything is written.
        AssertOneLineError(ZarCli.Run("flist", src, "-s", "00-7f=dir://" + t["a"], "-o", t["x.fl"]), "80-ff");
        Assert.False(Directory.Exists(t["a"]));
        // A read-only store cannot be written to.
        AssertOneLineError(ZarCli.Run("flist", src, "-s", "http://127.0.0.1:1/x", "-o", t["x.fl"]), "read-only");
        // A store that is down: one line naming it, and no fl.
        int port = StoreServer.FreePort();
        AssertOneLineError(ZarCli.Run("flist", src, "-s", $"zdb://127.0.0.1:{port}", "-o", t["x.fl"]), $"zdb://127.0.0.1:{port}");
        Assert.False(File.Exists(t["x.fl"]));
        Assert.Empty(Directory.GetFiles(t.Path, ".x.fl*"));
    }

    [Fact]
    public void ASecondRunUploadsNothing()
    {
        using var t = new TempDir();
        var (fl, store, src) = Small(t);
        var before = Directory.GetFiles(store, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var r = ZarCli.Run("flist", src, "-s", "dir://" + store, "-o", t["again.fl"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains(" 0 uploaded (0 bytes), 4 skipped", r.Out);
        Assert.Equal(before, Directory.GetFiles(store, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc));
    }

    [Fact]
    public void PackUnpackCloneAndStoreOverride()
    {
        using var t = new TempDir();
        var src = FlistRoundTripTests.MakeTree(t);
        var r = ZarCli.Run("flist", "pack", "-m", t["p.fl"], "-s", "dir://" + t["store"], src);
        Assert.True(r.Code == 0, r.Err);
        r = ZarCli.Run("flist", "unpack", "-m", t["p.fl"], "-p", t["out"]);
        Assert.True(r.Code == 0, r.Err);
        using (var a = new HostDirectory(src))
        using (var b = new HostDirectory(t["out"]))
        {
            var diffs = Differ.Compare(a, b, new DiffOptions { MtimeGranularityNanoseconds = 1_000_000_000 })
                .Where(d => d.Kind is not (DifferenceKind.Xattr or DifferenceKind.Hardlink) && !d.Path.Contains("bad-")).ToList();
            Assert.True(diffs.Count == 0, Differ.Render(diffs.Take(20)));
        }
        AssertOneLineError(ZarCli.Run("flist", "pack", "-m", t["q.fl"], "-s", "dir://" + t["store"], t["no-such-dir"]), "no-such-dir");

        // clone to a second store; with the first gone, -s reads from the clone.
        r = ZarCli.Run("flist", "clone", "-m", t["p.fl"], "-s", "00-7f=dir://" + t["c1"], "-s", "80-ff=dir://" + t["c2"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Matches(@"\d+ blobs, \d+ copied, 0 already there", r.Out);
        r = ZarCli.Run("flist", "clone", "-m", t["p.fl"], "-s", "00-7f=dir://" + t["c1"], "-s", "80-ff=dir://" + t["c2"]);
        Assert.Contains(" 0 copied", r.Out);
        Directory.Move(t["store"], t["store.gone"]);
        Assert.Equal(2, ZarCli.Run("cat", t["p.fl"], TreeFixture.BigFile).Code);
        r = ZarCli.Run("cat", t["p.fl"], TreeFixture.BigFile, "-s", "00-7f=dir://" + t["c1"], "-s", "80-ff=dir://" + t["c2"]);
        Assert.True(r.Code == 0, r.Err);
        r = ZarCli.Run("flist", "unpack", "-m", t["p.fl"], "-s", "00-7f=dir://" + t["c1"], "-s", "80-ff=dir://" + t["c2"], t["out2"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(src, "chunks/few-mib")), File.ReadAllBytes(Path.Combine(t["out2"], "chunks/few-mib")));
    }

    [Fact]
    public void ConfigTagsAndStores()
    {
        using var t = new TempDir();
        var (fl, store, _) = Small(t);
        string[] Run(params string[] args)
        {
            var r = ZarCli.Run(["flist", "config", "-m", fl, .. args]);
            Assert.True(r.Code == 0, r.Err);
            return r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        Assert.Empty(Run("tag", "list"));
        Run("tag", "add", "-t", "version=1.0", "-t", "description=a test");
        Assert.Equal(["description=a test", "version=1.0"], Run("tag", "list"));
        Run("tag", "delete", "-k", "version");
        Assert.Equal(["description=a test"], Run("tag", "list"));
        Run("tag", "delete", "--all");
        Assert.Empty(Run("tag", "list"));

        Assert.Equal([$"range:[0-255] store:dir://{store}"], Run("store", "list"));
        Run("store", "add", "-s", "00-80=zdb://user:pw@127.0.0.1:9900/ns", "-s", "81-ff=http://127.0.0.1:8080/blobs");
        Assert.Equal([$"range:[0-255] store:dir://{store}", "range:[0-128] store:zdb://user@127.0.0.1:9900/ns", "range:[129-255] store:http://127.0.0.1:8080/blobs"], Run("store", "list"));
        Run("store", "delete", "-s", "zdb://user@127.0.0.1:9900/ns");
        Assert.Equal(2, Run("store", "list").Length);
        Run("store", "delete", "--all");
        Assert.Empty(Run("store", "list"));
        AssertOneLineError(ZarCli.Run("flist", "config", "-m", fl, "store", "add", "-s", "nope://x"), "unknown store type");

        // A mistyped path is an error, never a new empty fl (rfs's config creates one).
        AssertOneLineError(ZarCli.Run("flist", "config", "-m", t["typo.fl"], "tag", "list"), "typo.fl");
        AssertOneLineError(ZarCli.Run("flist", "config", "-m", t["typo.fl"], "tag", "add", "-t", "a=b"), "typo.fl");
        Assert.False(File.Exists(t["typo.fl"]));
        File.WriteAllText(t["text.fl"], "not sqlite");
        AssertOneLineError(ZarCli.Run("flist", "config", "-m", t["text.fl"], "tag", "list"), "not an fl");
    }

    [Fact]
    public void AnFlConvertsToZarAndErofsAndDiffsEqual()
    {
        using var t = new TempDir();
        var (fl, _, src) = Small(t);
        Assert.Equal(0, ZarCli.Run("create", fl, "-o", t["x.zar"]).Code);
        Assert.Equal(0, ZarCli.Run("create", fl, "--format", "erofs", "-o", t["x.erofs"]).Code);
        foreach (var other in new[] { t["x.zar"], t["x.erofs"] })
        {
            var r = ZarCli.Run("diff", fl, other);
            Assert.True(r.Code == 0, r.Out + r.Err);
        }
        var d = ZarCli.Run("diff", src, fl, "--mtime-granularity", "s");
        Assert.True(d.Code == 0, d.Out + d.Err);
        Assert.Contains("entries:", ZarCli.Run("inspect", fl).Out);
    }

    [Fact]
    public void TagsGivenToTheWriterAreRecorded()
    {
        using var t = new TempDir();
        var (_, store, src) = Small(t);
        var r = ZarCli.Run("flist", src, "-s", "dir://" + store, "-o", t["tagged.fl"], "--tag", "version=2", "--tag", "description=hello");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal([new FlistTag("description", "hello"), new FlistTag("version", "2")], FlistConfig.Tags(t["tagged.fl"]));
    }

    [Fact]
    public void HttpRoutesServeAnFlPackedToADirStore()
    {
        using var t = new TempDir();
        var (fl, store, src) = Small(t);
        using var http = new StaticHttpServer(store);
        Assert.Equal(0, ZarCli.Run("flist", "config", "-m", fl, "store", "delete", "--all").Code);
        Assert.Equal(0, ZarCli.Run("flist", "config", "-m", fl, "store", "add", "-s", http.Url).Code);
        var r = ZarCli.Run("extract", fl, t["out"], "--cache", t["cache"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(src, "big")), File.ReadAllBytes(Path.Combine(t["out"], "big")));
        Assert.True(http.Requests >= 4);
    }

    [Theory]
    [InlineData("redis", "redis-latest.fl", "docker://redis")]
    [InlineData("threefolddev/ubuntu:22.04", "threefolddev-ubuntu-22.04.fl", "docker://threefolddev/ubuntu:22.04")]
    [InlineData("localhost:5000/app", "localhost-5000-app.fl", "docker://localhost:5000/app")]
    [InlineData("oci:/var/tmp/zar-corpus/debian-oci:latest", "debian-oci-latest.fl", "oci:/var/tmp/zar-corpus/debian-oci:latest")]
    [InlineData("docker://ghcr.io/x/y:1", "ghcr.io-x-y-1.fl", "docker://ghcr.io/x/y:1")]
    public void Docker2flNames(string image, string file, string reference)
    {
        Assert.Equal(file, Docker2Fl.OutputName(image));
        Assert.Equal(reference, Docker2Fl.SourceReference(image));
    }

    [Fact]
    public void Docker2flFromAnOciLayoutWritesTheStartupEntry()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        Directory.CreateDirectory(t["cwd"]);
        var r = ZarCli.RunIn(t["cwd"], "docker2fl", "-i", img.Reference, "-s", "dir://" + t["store"], "-d");
        Assert.True(r.Code == 0, r.Err);
        var fl = Path.Combine(t["cwd"], "layout-v1.fl");
        Assert.True(File.Exists(fl), r.Out);
        var toml = ZarCli.Run("cat", fl, "/.startup.toml");
        Assert.True(toml.Code == 0, toml.Err);
        Assert.Equal("""
            [startup.entry]
            name = "core.system"

            [startup.entry.args]
            args = ["--flag=a b", "--help", "quote\"d"]
            dir = "/srv/my app"
            name = "/usr/bin/tool"

            [startup.entry.args.env]
            PATH = "/usr/local/bin:/usr/bin:/bin"
            GREETING = "hello \"world\" $HOME \\ end"
            EMPTY = ""
            LANG = "C.UTF-8"

            """.ReplaceLineEndings("\n"), toml.Out);
        // The rest is the merged image.
        using var stack = global::Zar.Sources.SourceOpener.OpenStack(img.Reference);
        using var image = FlistImage.Open(fl, new FlistOpenOptions());
        var diffs = Differ.Compare(stack.Merged, image, new DiffOptions { MtimeGranularityNanoseconds = 1_000_000_000, IgnoreRootAttributes = true })
            .Where(d => !(d.Kind == DifferenceKind.OnlyInB && d.Path == ".startup.toml") && d.Kind is not (DifferenceKind.Xattr or DifferenceKind.Hardlink)).ToList();
        Assert.True(diffs.Count == 0, Differ.Render(diffs.Take(20)));
        // --no-startup leaves it out.
        r = ZarCli.Run("flist", img.Reference, "-s", "dir://" + t["store"], "-o", t["plain.fl"], "--no-startup");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(2, ZarCli.Run("cat", t["plain.fl"], "/.startup.toml").Code);
    }
}
