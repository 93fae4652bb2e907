using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Zar.Formats.LayerIndex;

namespace Zar.Bench;

/// <summary>
/// Lazy layers: index build speed against `gzip -dc > /dev/null` on the same layers, index size, and on an image in a
/// docker-registry on loopback (started here, the Debian corpus pushed with skopeo), the time to the first byte of
/// /usr/lib/os-release read lazily (`zar cat --lazy`) against a full pull (`skopeo copy` + `umoci unpack`, and
/// `zar convert`), with the bytes each transfers, through a proxy that counts (and optionally throttles).
/// </summary>
static class LazyBench
{
    public static void Run(string work)
    {
        var corpus = Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";
        var blobs = Directory.GetFiles(Path.Combine(corpus, "debian-oci", "blobs", "sha256")).Where(f => new FileInfo(f).Length > 1 << 20).ToList();
        Console.WriteLine("index build vs gzip -dc > /dev/null (best of 3, same layers)");
        Console.WriteLine($"{"layer",-14} {"MiB gz",8} {"MiB tar",8} {"zar s",7} {"gzip s",7} {"speed",6} {"index KiB",10} {"% of tar",9}");
        foreach (var blob in blobs)
        {
            LayerIndex? index = null;
            double zar = Timing.Best(3, () => { }, () => index = LayerIndexBuilder.BuildFile(blob));
            double gzip = Timing.Best(3, () => { }, () => Timing.Run("/bin/sh", "-c", $"gzip -dc < '{blob}' > /dev/null"));
            long size = index!.ToBytes().Length;
            Console.WriteLine($"{Path.GetFileName(blob)[..12],-14} {new FileInfo(blob).Length / 1048576.0,8:F1} {index.Header.UncompressedSize / 1048576.0,8:F1} {zar,7:F2} {gzip,7:F2} {gzip / zar,5:F2}x {size / 1024.0,10:F0} {100.0 * size / index.Header.UncompressedSize,8:F2}%");
        }

        if (!Timing.Has("docker-registry") || !Timing.Has("skopeo")) { Console.WriteLine("no docker-registry/skopeo: registry part skipped"); return; }
        using var registry = new BenchRegistry(work);
        var reference = $"{registry.Host}/bench/debian:1";
        Timing.Run("skopeo", "copy", "-q", "--dest-tls-verify=false", $"oci:{Path.Combine(corpus, "debian-oci")}:latest", "docker://" + reference);
        var cli = Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll");
        Timing.Run("dotnet", cli, "index", "--push", "--cache", Path.Combine(work, "pusher"), "docker://" + reference);

        foreach (var (label, bitsPerSecond, latencyMs) in new[] { ("loopback", 0L, 0), ("1 Gbit/s 1 ms", 1_000_000_000L, 1), ("100 Mbit/s 5 ms", 100_000_000L, 5) })
        {
            using var proxy = new CountingProxy(registry.Port, bitsPerSecond / 8, latencyMs);
            var proxied = "docker://" + reference.Replace(registry.Host, proxy.Host);
            Console.WriteLine();
            Console.WriteLine($"first byte of /usr/lib/os-release, {label} (registry 2.8 on loopback; wall time incl. process start)");
            Console.WriteLine($"{"path",-46} {"seconds",8} {"MiB sent",9}");
            var rows = new List<(string, double, long)>();
            Row("zar cat --lazy (index from the registry)", () => Timing.Run("dotnet", cli, "cat", "--lazy", "--cache", Fresh(work, "lazy-cold"), proxied, "/usr/lib/os-release"));
            var warm = Fresh(work, "lazy-warm");
            Timing.Run("dotnet", cli, "index", "--cache", warm, "docker://" + reference);
            Row("zar cat --lazy (index cached locally)", () => Timing.Run("dotnet", cli, "cat", "--lazy", "--cache", warm, proxied, "/usr/lib/os-release"));
            Row("zar convert (full pull) + cat", () =>
            {
                var dir = Fresh(work, "convert");
                Timing.Run("dotnet", cli, "convert", "--cache", dir, proxied, "-o", Path.Combine(dir, "x.zar"));
                Timing.Run("dotnet", cli, "cat", Path.Combine(dir, "x.zar"), "/usr/lib/os-release");
            });
            if (Timing.Has("umoci"))
                Row("skopeo copy + umoci unpack + cat", () =>
                {
                    var dir = Fresh(work, "skopeo");
                    Timing.Run("skopeo", "copy", "-q", "--src-tls-verify=false", proxied, $"oci:{dir}/oci:x");
                    Timing.Run("umoci", "unpack", "--image", $"{dir}/oci:x", $"{dir}/bundle");
                    Timing.Run("cat", $"{dir}/bundle/rootfs/usr/lib/os-release");
                });
            if (Timing.Has("crun") && Environment.UserName == "root")
            {
                Row("zar run --lazy -- python3 -c 'print(1)'", () => Timing.Run("dotnet", cli, "run", "--lazy", "--cache", Fresh(work, "run-lazy"), proxied, "--", "python3", "-c", "print(1)"));
                Row("zar convert + zar run x.zar -- python3 ...", () =>
                {
                    var dir = Fresh(work, "run-full");
                    Timing.Run("dotnet", cli, "convert", "--cache", dir, proxied, "-o", Path.Combine(dir, "x.zar"));
                    Timing.Run("dotnet", cli, "run", Path.Combine(dir, "x.zar"), "--", "python3", "-c", "print(1)");
                });
            }
            foreach (var (name, s, b) in rows) Console.WriteLine($"{name,-46} {s,8:F2} {b / 1048576.0,9:F2}");
            Console.WriteLine($"full pull (skopeo+umoci or convert) / lazy cold: {rows.Skip(2).Take(2).Max(r => r.Item2) / rows[0].Item2:F1}x time, {rows.Skip(2).Take(2).Max(r => r.Item3) / (double)rows[0].Item3:F0}x bytes");
            if (rows.Count > 4) Console.WriteLine($"python3 prints: full pull + run / lazy run: {rows[5].Item2 / rows[4].Item2:F1}x time");

            void Row(string name, Action action)
            {
                proxy.Reset();
                var sw = Stopwatch.StartNew();
                action();
                rows.Add((name, sw.Elapsed.TotalSeconds, proxy.BytesDown));
            }
        }
    }

    static string Fresh(string work, string name)
    {
        var dir = Path.Combine(work, name);
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>docker-registry serve on a free loopback port with temporary storage.</summary>
sealed class BenchRegistry : IDisposable
{
    readonly Process _process;
    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    public BenchRegistry(string work)
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        Port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        var dir = Path.Combine(work, "registry");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.yml"),
            $"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {dir}/storage\nhttp:\n  addr: 127.0.0.1:{Port}\n");
        _process = Process.Start(new ProcessStartInfo("docker-registry", ["serve", Path.Combine(dir, "config.yml")]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        for (int i = 0; i < 200; i++)
        {
            try { using var c = new TcpClient(); c.Connect(IPAddress.Loopback, Port); return; }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new Exception("docker-registry did not start");
    }

    public void Dispose() { try { _process.Kill(); _process.WaitForExit(); } catch { } }
}

/// <summary>A loopback TCP proxy that counts the bytes sent to clients; optionally throttled (bytes/s per connection) with added latency.</summary>
sealed class CountingProxy : IDisposable
{
    readonly TcpListener _listener;
    readonly int _upstream;
    readonly long _bytesPerSecond;
    readonly int _latencyMs;
    readonly CancellationTokenSource _stop = new();
    long _bytes;
    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public long BytesDown => Interlocked.Read(ref _bytes);
    public void Reset() => Interlocked.Exchange(ref _bytes, 0);

    public CountingProxy(int upstream, long bytesPerSecond, int latencyMs)
    {
        _upstream = upstream;
        _bytesPerSecond = bytesPerSecond;
        _latencyMs = latencyMs;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient c;
                try { c = await _listener.AcceptTcpClientAsync(_stop.Token); } catch { return; }
                _ = Task.Run(() => Serve(c));
            }
        });
    }

    async Task Serve(TcpClient client)
    {
        using var _ = client;
        using var up = new TcpClient();
        try { await up.ConnectAsync(IPAddress.Loopback, _upstream); } catch { return; }
        var cs = client.GetStream();
        var us = up.GetStream();
        var toServer = Task.Run(async () =>
        {
            var buf = new byte[65536];
            int n;
            try
            {
                while ((n = await cs.ReadAsync(buf)) > 0)
                {
                    if (_latencyMs > 0) await Task.Delay(_latencyMs);
                    await us.WriteAsync(buf.AsMemory(0, n));
                }
            }
            catch { }
            try { up.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        var toClient = Task.Run(async () =>
        {
            var buf = new byte[65536];
            int n;
            long sent = 0;
            var sw = Stopwatch.StartNew();
            try
            {
                while ((n = await us.ReadAsync(buf)) > 0)
                {
                    Interlocked.Add(ref _bytes, n);
                    await cs.WriteAsync(buf.AsMemory(0, n));
                    sent += n;
                    if (_bytesPerSecond > 0)
                    {
                        var due = TimeSpan.FromSeconds((double)sent / _bytesPerSecond) - sw.Elapsed;
                        if (due > TimeSpan.Zero) await Task.Delay(due);
                    }
                }
            }
            catch { }
            try { client.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        await Task.WhenAll(toServer, toClient);
    }

    public void Dispose() { _stop.Cancel(); _listener.Stop(); }
}
