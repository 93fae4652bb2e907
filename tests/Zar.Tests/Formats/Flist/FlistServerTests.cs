using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Stores;
using Zar.Tests.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Flist;

/// <summary>
/// flists on real servers, each started by the test on a loopback port: zdb (built from shared/peers) with a
/// password-protected namespace, redis-server for the default namespace, s3rver; and a replica stopped in
/// the middle of a read.
/// </summary>
public sealed class FlistServerTests
{
    static string Tree(TempDir t)
    {
        var src = t["src"];
        Directory.CreateDirectory(Path.Combine(src, "d"));
        var rng = new Random(11);
        for (int i = 0; i < 24; i++)
        {
            var data = new byte[i * 100_000 + i];
            rng.NextBytes(data);
            File.WriteAllBytes(Path.Combine(src, "d", $"f{i:D2}"), data);
        }
        File.WriteAllText(Path.Combine(src, "small"), "small file\n");
        return src;
    }

    static void AssertSameTree(string src, IReadOnlyFileSystem fs)
    {
        using var source = new HostDirectory(src);
        var diffs = Differ.Compare(source, fs, new DiffOptions { MtimeGranularityNanoseconds = 1_000_000_000 });
        Assert.True(diffs.Count == 0, Differ.Render(diffs.Take(20)));
    }

    static void WriteAndExtract(TempDir t, string src, string spec, string expectedRoute)
    {
        var r = ZarCli.Run("flist", src, "-s", spec, "-o", t["x.fl"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal([expectedRoute], FlistConfig.Routes(t["x.fl"]).Select(x => x.Url));
        r = ZarCli.Run("extract", t["x.fl"], t["out"]);
        Assert.True(r.Code == 0, r.Err);
        using var extracted = new HostDirectory(t["out"]);
        AssertSameTree(src, extracted);
    }

    [Fact]
    public void ZdbPasswordProtectedNamespace()
    {
        using var zdb = new ZdbServer();
        zdb.CreateNamespace("images", "s3cret", isPublic: true);
        using var t = new TempDir();
        var src = Tree(t);
        // Written with the password; the fl records the URL without it and reads through the public namespace.
        WriteAndExtract(t, src, zdb.Url("images", "s3cret"), zdb.Url("images").Replace("zdb://", "zdb://user@"));
        // The same blobs again: nothing is uploaded (zdb's EXISTS).
        var r = ZarCli.Run("flist", src, "-s", zdb.Url("images", "s3cret"), "-o", t["again.fl"]);
        Assert.Contains(" 0 uploaded (0 bytes)", r.Out);
        // Without the password the namespace is read-only: writing fails in one line, no fl.
        Directory.CreateDirectory(t["fresh"]);
        File.WriteAllText(Path.Combine(t["fresh"], "new"), "not in the namespace yet");
        r = ZarCli.Run("flist", t["fresh"], "-s", zdb.Url("images"), "-o", t["ro.fl"]);
        Assert.Equal(2, r.Code);
        Assert.Contains("read-only", r.Err);
        Assert.False(File.Exists(t["ro.fl"]));
    }

    [Fact]
    public void RedisDefaultNamespace()
    {
        using var redis = new RedisServer();
        using var t = new TempDir();
        WriteAndExtract(t, Tree(t), redis.Url, redis.Url);
    }

    [Fact]
    public void BlobsFromNetworkStoresAreKeptInABoundedLocalCache()
    {
        using var t = new TempDir();
        var src = Tree(t);
        var cache = t["cache"];
        using (var redis = new RedisServer())
        {
            var r = ZarCli.Run("flist", src, "-s", redis.Url, "-o", t["x.fl"]);
            Assert.True(r.Code == 0, r.Err);
            r = ZarCli.Run("extract", t["x.fl"], t["out1"], "--cache", cache);
            Assert.True(r.Code == 0, r.Err);
        }
        var cached = Directory.GetFiles(Path.Combine(cache, "flist"), "*", SearchOption.AllDirectories);
        using (var fl = FlistImage.Open(t["x.fl"])) Assert.Equal(fl.BlobIds().Count, cached.Length);
        // A damaged cache file is dropped, not served: with the server gone that file's read fails in one line.
        File.WriteAllBytes(cached[0], [1, 2, 3]);
        var again = ZarCli.Run("extract", t["x.fl"], t["out2"], "--cache", cache);
        Assert.Equal(2, again.Code);
        Assert.DoesNotContain("\n", again.Err.TrimEnd());
        Assert.False(File.Exists(cached[0]));
        // Everything else still comes from the cache with the server down.
        using var image = FlistImage.Open(t["x.fl"], new FlistOpenOptions { DiskCacheDirectory = Path.Combine(cache, "flist") });
        IReadOnlyFileSystem fs = image;
        int served = fs.Walk().Where(e => e.IsRegular).Count(e =>
        {
            try { return fs.ReadAllBytes(e).SequenceEqual(File.ReadAllBytes(Path.Combine(src, e.Path))); }
            catch (ContentStoreException) { return false; }
        });
        Assert.Equal(fs.Walk().Count(e => e.IsRegular) - 1, served);
    }

    [Fact]
    public void S3rverBucket()
    {
        using var s3 = new S3Server();
        using var t = new TempDir();
        var src = Tree(t);
        // Recorded without the secret: reads are unsigned, which s3rver (like a public-read bucket) serves.
        WriteAndExtract(t, src, s3.Url, s3.Url.Replace("S3RVER:S3RVER@", "S3RVER@"));
    }

    [Fact]
    public void AReplicaStoppedDuringAReadIsNotMissed()
    {
        using var zdb1 = new ZdbServer();
        using var zdb2 = new ZdbServer();
        using var s3 = new S3Server();
        using var t = new TempDir();
        var src = Tree(t);
        // zdb1 and zdb2 each hold every blob; s3 holds a third copy of the upper half.
        var r = ZarCli.Run("flist", src, "-s", zdb1.Url(), "-s", zdb2.Url(), "-s", "80-ff=" + s3.Url, "-o", t["x.fl"]);
        Assert.True(r.Code == 0, r.Err);
        using var fl = FlistImage.Open(t["x.fl"]);
        IReadOnlyFileSystem fs = fl;
        var files = fs.Walk().Where(e => e.IsRegular).ToList();
        var buffer = new byte[64 << 10];
        // Half the files read with every server up, then one zdb goes away mid-file.
        foreach (var f in files.Take(files.Count / 2)) fs.ReadAllBytes(f);
        var big = files.OrderByDescending(f => f.Size).First();
        fs.ReadFully(big, 0, buffer);
        zdb1.Stop();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        AssertSameTree(src, fs);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"reading after the stop took {sw.Elapsed}");
        // With both zdbs down the upper half still comes from s3; the lower half fails in one line naming the stores.
        zdb2.Stop();
        using var fl2 = FlistImage.Open(t["x.fl"]);
        IReadOnlyFileSystem fs2 = fl2;
        int fromS3 = 0, failed = 0;
        foreach (var f in fs2.Walk().Where(e => e.IsRegular && e.Size > 0))
        {
            var firstId = ((FlistChunk)fs2.GetData(f).Segments[0].Blob).Id;
            if (firstId[0] >= 0x80) { fs2.ReadFully(f, 0, buffer.AsSpan(0, (int)Math.Min(buffer.Length, f.Size))); fromS3++; }
            else
            {
                var e = Assert.Throws<ContentStoreException>(() => fs2.ReadFully(f, 0, buffer.AsSpan(0, 1)));
                Assert.Contains($"127.0.0.1:{zdb1.Port}", e.Message);
                Assert.Contains($"127.0.0.1:{zdb2.Port}", e.Message);
                failed++;
            }
        }
        Assert.True(fromS3 > 0 && failed > 0, $"{fromS3} from s3, {failed} failed");
    }
}
