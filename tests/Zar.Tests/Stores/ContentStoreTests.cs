using System.Net;
using System.Text;
using Zar.Model;
using Zar.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Stores;

/// <summary>Each store kind against a real server or path: write, exists, read back, missing; the router's ranges and fallbacks.</summary>
public sealed class ContentStoreTests
{
    static EncodedChunk Chunk(int seed) => ChunkCodec.Encode(Encoding.UTF8.GetBytes($"chunk number {seed} " + new string('x', seed % 100)));

    /// <summary>The behaviour every store shares: absent → null/false; put → exists and the same bytes back; put again is fine.</summary>
    static void RoundTrip(IContentStore store)
    {
        var a = Chunk(1);
        var b = Chunk(2);
        Assert.False(store.Exists(a.Id));
        Assert.Null(store.Get(a.Id));
        store.Put(a.Id, a.Blob);
        store.Put(b.Id, b.Blob);
        store.Put(a.Id, a.Blob); // byte-identical again: zdb answers nil, others overwrite
        Assert.True(store.Exists(a.Id));
        Assert.Equal(a.Blob, store.Get(a.Id));
        Assert.Equal(b.Blob, store.Get(b.Id));
        Assert.Null(store.Get(Chunk(3).Id));
    }

    [Fact]
    public void DirStoreWritesShardedAndReadsFlat()
    {
        using var t = new TempDir();
        using var store = ContentStores.Open("dir://" + t["store"]);
        RoundTrip(store);
        var c = Chunk(1);
        var hex = ChunkCodec.Hex(c.Id);
        Assert.True(File.Exists(Path.Combine(t["store"], hex[..2], hex)));
        Assert.Empty(Directory.GetFiles(t["store"])); // nothing flat, no temp files left
        // rfs <= 2.0.7 wrote <root>/<hex>: still readable.
        var old = Chunk(9);
        File.WriteAllBytes(Path.Combine(t["store"], ChunkCodec.Hex(old.Id)), old.Blob);
        Assert.True(store.Exists(old.Id));
        Assert.Equal(old.Blob, store.Get(old.Id));
        Assert.Equal("dir://" + t["store"], store.RouteUrl(true));
    }

    [Fact]
    public void SpecsRangesAndCoverage()
    {
        Assert.Equal((0x00, 0xff, "dir:///x"), ContentRouter.ParseSpec("dir:///x") is var (s, e, u) ? ((int)s, (int)e, u) : default);
        Assert.Equal((0x00, 0x80, "dir:///x"), ContentRouter.ParseSpec("00-80=dir:///x") is var (s2, e2, u2) ? ((int)s2, (int)e2, u2) : default);
        Assert.Throws<ContentStoreException>(() => ContentRouter.ParseSpec("90-10=dir:///x"));
        using var t = new TempDir();
        using var gap = ContentRouter.Open([$"00-7f=dir://{t["a"]}", $"90-ff=dir://{t["b"]}"]);
        var ex = Assert.Throws<ContentStoreException>(gap.RequireWritableCoverage);
        Assert.Contains("80-8f", ex.Message);
        Assert.Throws<ContentStoreException>(() => ContentRouter.Open(["ftp://host/x"]));
        Assert.Contains("unknown store type 'server'", Assert.Throws<ContentStoreException>(() => ContentRouter.Open(["server://http://localhost:4000"])).Message);
        Assert.Contains("port not found", Assert.Throws<ContentStoreException>(() => ContentRouter.Open(["s3://k:s@host/bucket"])).Message);
    }

    [Fact]
    public void PasswordsAreStrippedFromRecordedRoutes()
    {
        using var zdb = new ZdbStore("zdb://user:secret@127.0.0.1:9900/ns");
        Assert.Equal("zdb://user@127.0.0.1:9900/ns", zdb.RouteUrl(true));
        Assert.Equal("zdb://user:secret@127.0.0.1:9900/ns", zdb.RouteUrl(false));
        Assert.DoesNotContain("secret", zdb.Description);
        using var s3 = new S3Store("s3://AK:SK@127.0.0.1:9000/bucket?region=r");
        Assert.Equal("s3://AK@127.0.0.1:9000/bucket?region=r", s3.RouteUrl(true));
        using var plain = new ZdbStore("zdb://127.0.0.1:9900");
        Assert.Equal("zdb://127.0.0.1:9900", plain.RouteUrl(true));
    }

    [Fact]
    public void RouterReplicatesByRangeAndFallsBackToAnIntactReplica()
    {
        using var t = new TempDir();
        using var router = ContentRouter.Open([$"00-7f=dir://{t["low"]}", $"80-ff=dir://{t["high"]}", $"dir://{t["all"]}"]);
        router.RequireWritableCoverage();
        var chunks = Enumerable.Range(0, 40).Select(Chunk).ToList();
        foreach (var c in chunks) Assert.Equal((2, 0), router.PutMissing(c.Id, c.Blob));
        foreach (var c in chunks) Assert.Equal((0, 2), router.PutMissing(c.Id, c.Blob));
        using var low = new DirStore(t["low"]);
        using var high = new DirStore(t["high"]);
        using var all = new DirStore(t["all"]);
        foreach (var c in chunks)
        {
            Assert.Equal(c.Id[0] <= 0x7f, low.Exists(c.Id));
            Assert.Equal(c.Id[0] >= 0x80, high.Exists(c.Id));
            Assert.True(all.Exists(c.Id));
        }
        // Damage one replica's copy and delete another's: reads still come back intact.
        foreach (var c in chunks)
        {
            var own = c.Id[0] <= 0x7f ? low : high;
            if (c.Id[1] % 2 == 0) File.WriteAllBytes(own.ShardedPath(c.Id), new byte[c.Blob.Length]);
            else File.Delete(all.ShardedPath(c.Id));
        }
        foreach (var c in chunks) Assert.Equal(c.Blob, router.Get(c.Id));
        // Both copies damaged: one line naming the corruption.
        var x = chunks[0];
        File.WriteAllBytes((x.Id[0] <= 0x7f ? low : high).ShardedPath(x.Id), [1, 2, 3]);
        File.WriteAllBytes(all.ShardedPath(x.Id), [1, 2, 3]);
        Assert.Contains("corrupted", Assert.Throws<ContentStoreException>(() => router.Get(x.Id)).Message);
    }

    [Fact]
    public void ZdbPasswordProtectedNamespace()
    {
        using var zdb = new ZdbServer();
        zdb.CreateNamespace("flist", "sekrit", isPublic: true);
        zdb.CreateNamespace("private", "sekrit", isPublic: false);
        using (var writer = ContentStores.Open(zdb.Url("flist", "sekrit"))) RoundTrip(writer);
        var a = Chunk(1);
        // The stripped URL an fl records: SELECT without the password, read-only in a public namespace.
        using var reader = ContentStores.Open(zdb.Url("flist"));
        Assert.Equal(a.Blob, reader.Get(a.Id));
        Assert.Contains("read-only", Assert.Throws<ContentStoreException>(() => reader.Put(Chunk(5).Id, Chunk(5).Blob)).Message);
        using var wrongPassword = ContentStores.Open(zdb.Url("flist", "nope"));
        Assert.Contains("Access denied", Assert.Throws<ContentStoreException>(() => wrongPassword.Get(a.Id)).Message);
        using var privateNs = ContentStores.Open(zdb.Url("private"));
        Assert.Contains("protected and private", Assert.Throws<ContentStoreException>(() => privateNs.Exists(a.Id)).Message);
        using var missingNs = ContentStores.Open(zdb.Url("nosuch"));
        Assert.Contains("not found", Assert.Throws<ContentStoreException>(() => missingNs.Exists(a.Id)).Message, StringComparison.OrdinalIgnoreCase);
        // The default namespace needs no SELECT.
        using var def = ContentStores.Open(zdb.Url());
        RoundTrip(def);
        using var defNamed = ContentStores.Open(zdb.Url("default"));
        Assert.True(defNamed.Exists(a.Id));
    }

    [Fact]
    public void RedisServesTheDefaultNamespace()
    {
        using var redis = new RedisServer();
        using var store = ContentStores.Open(redis.Url);
        RoundTrip(store);
        using var named = ContentStores.Open(redis.Url + "/default");
        Assert.True(named.Exists(Chunk(1).Id));
    }

    [Fact]
    public void S3StoreOnS3rver()
    {
        using var s3 = new S3Server();
        using var store = ContentStores.Open(s3.Url);
        RoundTrip(store);
        using var missingBucket = ContentStores.Open(s3.Url.Replace("/flist?", "/nobucket?"));
        Assert.Throws<ContentStoreException>(() => missingBucket.Put(Chunk(1).Id, Chunk(1).Blob));
    }

    [Fact]
    public void HttpStoreReadsShardedThenFlatAndRefusesWrites()
    {
        using var t = new TempDir();
        using var dir = new DirStore(t["store"]);
        var sharded = Chunk(1);
        var flat = Chunk(2);
        dir.Put(sharded.Id, sharded.Blob);
        File.WriteAllBytes(Path.Combine(t["store"], ChunkCodec.Hex(flat.Id)), flat.Blob);
        using var server = new StaticHttpServer(t["store"]);
        using var http = ContentStores.Open(server.Url + "/");
        Assert.False(http.CanWrite);
        Assert.Equal(sharded.Blob, http.Get(sharded.Id));
        Assert.Equal(flat.Blob, http.Get(flat.Id));
        Assert.Null(http.Get(Chunk(3).Id));
        Assert.Throws<ContentStoreException>(() => http.Put(sharded.Id, sharded.Blob));
    }

    [Fact]
    public void TheLocalBlobCacheStaysWithinItsBoundAndDropsDamagedEntries()
    {
        using var t = new TempDir();
        var chunks = Enumerable.Range(0, 30).Select(Chunk).ToList();
        long limit = chunks.Take(10).Sum(c => (long)c.Blob.Length);
        var cache = new BoundedBlobCache(t["cache"], limit);
        foreach (var c in chunks)
        {
            cache.Put(c.Id, c.Blob);
            Thread.Sleep(5); // distinct modification times: the order of use
        }
        long held = Directory.GetFiles(t["cache"], "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.InRange(held, 1, limit);
        Assert.Equal(chunks[^1].Blob, cache.Get(chunks[^1].Id));
        Assert.Null(cache.Get(chunks[0].Id));
        var last = new DirStore(t["cache"]).ShardedPath(chunks[^1].Id);
        File.WriteAllBytes(last, [9, 9, 9]);
        Assert.Null(cache.Get(chunks[^1].Id));
        Assert.False(File.Exists(last));
    }

    [Fact]
    public void AStoreThatIsDownIsOneLineQuickly()
    {
        int port = StoreServer.FreePort();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var zdb = ContentStores.Open($"zdb://127.0.0.1:{port}/ns");
        var e = Assert.Throws<ContentStoreException>(() => zdb.Exists(Chunk(1).Id));
        Assert.Contains($"zdb://127.0.0.1:{port}/ns", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        using var http = ContentStores.Open($"http://127.0.0.1:{port}/blobs");
        Assert.Contains($"127.0.0.1:{port}", Assert.Throws<ContentStoreException>(() => http.Get(Chunk(1).Id)).Message);
        using var s3 = ContentStores.Open($"s3://k:s@127.0.0.1:{port}/b");
        Assert.Contains($"127.0.0.1:{port}", Assert.Throws<ContentStoreException>(() => s3.Get(Chunk(1).Id)).Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
    }
}

/// <summary>Serves a directory's files over HTTP on loopback (what an http:// store points at).</summary>
public sealed class StaticHttpServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Thread _thread;
    public string Url { get; }
    public int Requests;

    public StaticHttpServer(string root)
    {
        int port = StoreServer.FreePort();
        Url = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Url + "/");
        _listener.Start();
        _thread = new Thread(() =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try { ctx = _listener.GetContext(); } catch { return; }
                Interlocked.Increment(ref Requests);
                var path = Path.Combine(root, Uri.UnescapeDataString(ctx.Request.Url!.AbsolutePath.TrimStart('/')));
                if (File.Exists(path))
                {
                    var bytes = File.ReadAllBytes(path);
                    ctx.Response.ContentLength64 = bytes.Length;
                    ctx.Response.OutputStream.Write(bytes);
                }
                else ctx.Response.StatusCode = 404;
                ctx.Response.Close();
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
