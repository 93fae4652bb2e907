using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Zar.Model;
using Zar.Sources.Registry;

namespace Zar.Tests.Sources.Registry;

/// <summary>
/// A minimal HTTP/1.1 server on loopback that answers every request with <see cref="Respond"/>'s body,
/// sent <see cref="ChunkBytes"/> at a time with <see cref="Pause"/> between chunks (a trickling or
/// stalling registry); one connection per request.
/// </summary>
public sealed class TricklingServer : IDisposable
{
    readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource _stop = new();
    public string Host => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
    public int Requests;
    /// <summary>(request number from 1, path, range start) → status, headers, body, and whether to trickle it.</summary>
    public required Func<int, string, long?, (int Status, string Headers, byte[] Body, bool Trickle)> Respond { get; init; }
    public int ChunkBytes { get; init; } = 1;
    public TimeSpan Pause { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Trickle this many bytes, then send nothing more and keep the connection open.</summary>
    public long? HangAfter { get; init; }

    public TricklingServer()
    {
        _listener.Start();
        _ = Task.Run(AcceptLoop);
    }

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient c;
            try { c = await _listener.AcceptTcpClientAsync(_stop.Token); } catch { return; }
            _ = Task.Run(() => Serve(c));
        }
    }

    async Task Serve(TcpClient client)
    {
        using var c = client;
        try
        {
            var s = c.GetStream();
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n") && await s.ReadAsync(one, _stop.Token) == 1) head.Append((char)one[0]);
            var lines = head.ToString().Split("\r\n");
            var path = lines[0].Split(' ')[1];
            long? from = null;
            foreach (var l in lines)
                if (l.StartsWith("Range: bytes=", StringComparison.OrdinalIgnoreCase)) from = long.Parse(l[13..].Split('-')[0]);
            var (status, headers, body, trickle) = Respond(Interlocked.Increment(ref Requests), path, from);
            var reply = $"HTTP/1.1 {status} X\r\nContent-Length: {body.Length}\r\nConnection: close\r\n{headers}\r\n";
            await s.WriteAsync(Encoding.ASCII.GetBytes(reply), _stop.Token);
            if (!trickle) { await s.WriteAsync(body, _stop.Token); return; }
            for (int i = 0; i < body.Length; i += ChunkBytes)
            {
                if (HangAfter is long h && i >= h) { await Task.Delay(Timeout.Infinite, _stop.Token); }
                await s.WriteAsync(body.AsMemory(i, Math.Min(ChunkBytes, body.Length - i)), _stop.Token);
                await Task.Delay(Pause, _stop.Token);
            }
        }
        catch { }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}

/// <summary>
/// Finding 2: a registry that trickles (1 byte/s) was waited on forever. A minimum rate over a window
/// and a per-request deadline scaled by size now end such transfers; they are retried like a dropped
/// connection (resumed with Range), then reported in one line naming the registry and the blob.
/// </summary>
public sealed class TransferGuardTests
{
    static readonly byte[] Blob = RandomNumberGenerator.GetBytes(20_000);
    static readonly string BlobDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Blob));

    static RegistryClientOptions Fast => new()
    {
        UseAuthFiles = false,
        MinTransferRate = 1024,
        StallWindow = TimeSpan.FromSeconds(1),
        RequestTimeout = TimeSpan.FromSeconds(5),
        InitialBackoff = TimeSpan.FromMilliseconds(10),
        MaxBackoff = TimeSpan.FromMilliseconds(50),
        MaxRetries = 2,
    };

    static async Task<byte[]> ReadBlob(RegistryClient client)
    {
        await using var s = await client.OpenBlobAsync("r", BlobDigest, Blob.Length, TestContext.Current.CancellationToken);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms, TestContext.Current.CancellationToken);
        return ms.ToArray();
    }

    [Fact]
    public async Task TricklingBlobIsAStallRetriedThenOneLineNamingRegistryAndBlob()
    {
        using var server = new TricklingServer { Respond = (_, _, _) => (200, "", Blob, true) };
        using var client = new RegistryClient(server.Host, Fast);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAnyAsync<ZarException>(() => ReadBlob(client));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        Assert.Contains($"docker://{server.Host}/r@{BlobDigest}", e.Message);
        Assert.Contains("stalled", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(3, server.Requests); // the first try and two retries
    }

    [Fact]
    public async Task SilentServerAfterSomeBytesIsAStall()
    {
        using var server = new TricklingServer { Respond = (_, _, _) => (200, "", Blob, true), ChunkBytes = 4096, Pause = TimeSpan.Zero, HangAfter = 8192 };
        using var client = new RegistryClient(server.Host, Fast with { BodyIdleTimeout = TimeSpan.FromMinutes(10) });
        var e = await Assert.ThrowsAnyAsync<ZarException>(() => ReadBlob(client));
        Assert.Contains("stalled", e.Message);
    }

    [Fact]
    public async Task StallIsResumedLikeADrop()
    {
        // The first answer trickles; the retry asks for the rest with Range and gets it at full speed.
        using var server = new TricklingServer
        {
            Respond = (n, _, from) => n == 1 ? (200, "", Blob, true)
                : (206, $"Content-Range: bytes {from}-{Blob.Length - 1}/{Blob.Length}\r\n", Blob[(int)from!.Value..], false),
            ChunkBytes = 100,
            Pause = TimeSpan.FromMilliseconds(200),
        };
        using var client = new RegistryClient(server.Host, Fast);
        Assert.Equal(Blob, await ReadBlob(client));
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task TrickleAboveTheMinimumRateStillMeetsADeadlineScaledBySize()
    {
        // 2 KiB/s passes the 1 KiB/s stall check; a 0.5 s base plus size at 1 MB/s is the limit.
        using var server = new TricklingServer { Respond = (_, _, _) => (200, "", Blob, true), ChunkBytes = 200, Pause = TimeSpan.FromMilliseconds(100) };
        using var client = new RegistryClient(server.Host, Fast with { RequestTimeout = TimeSpan.FromSeconds(0.5), DeadlineRate = 1 << 20, MaxRetries = 0 });
        var e = await Assert.ThrowsAnyAsync<ZarException>(() => ReadBlob(client));
        Assert.Contains("took longer than", e.Message);
        Assert.Contains(BlobDigest, e.Message);
    }

    [Fact]
    public async Task TricklingManifestIsAStall()
    {
        var manifest = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}""");
        using var server = new TricklingServer { Respond = (_, _, _) => (200, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n", manifest, true) };
        using var client = new RegistryClient(server.Host, Fast with { MaxRetries = 0 });
        var e = await Assert.ThrowsAnyAsync<ZarException>(() => client.GetManifestAsync("r", "t", TestContext.Current.CancellationToken));
        Assert.Contains("stalled", e.Message);
        Assert.Contains(server.Host, e.Message);
    }

    [Fact]
    public async Task AHealthyTransferIsUntouched()
    {
        using var server = new TricklingServer { Respond = (_, _, _) => (200, "", Blob, false) };
        using var client = new RegistryClient(server.Host, Fast);
        Assert.Equal(Blob, await ReadBlob(client));
        Assert.Equal(1, server.Requests);
    }

    sealed class ChallengeHandler : HttpMessageHandler
    {
        public readonly List<Uri> Seen = [];
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            lock (Seen) Seen.Add(request.RequestUri!);
            var r = new HttpResponseMessage(HttpStatusCode.Unauthorized) { RequestMessage = request, Content = new ByteArrayContent([]) };
            r.Headers.TryAddWithoutValidation("WWW-Authenticate", "Bearer realm=\"http://tokens.example/token\",service=\"reg\"");
            return Task.FromResult(r);
        }
    }

    [Fact]
    public async Task PlainHttpBearerRealmForAnHttpsRegistryIsRefused()
    {
        var handler = new ChallengeHandler();
        using var client = new RegistryClient("registry.example", new RegistryClientOptions
        {
            Credential = RegistryCredential.Parse("alice:secret"),
            WrapHandler = _ => handler,
            MaxRetries = 0,
        });
        var e = await Assert.ThrowsAnyAsync<ZarException>(() => client.PingAsync(TestContext.Current.CancellationToken));
        Assert.Contains("plain http", e.Message);
        Assert.DoesNotContain(handler.Seen, u => u.Host == "tokens.example");
        Assert.Equal(0, client.TokenRequests);
    }
}
