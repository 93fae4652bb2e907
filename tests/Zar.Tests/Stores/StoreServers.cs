using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Zar.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Stores;

/// <summary>Where the repository and the shared folder beside it (fixtures, peer sources) are.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Zar.slnx"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Zar.slnx) above the test binaries");
    }

    /// <summary>The project's shared/ folder: beside the checkout (CI, /work/main), or /work/shared for a worktree.</summary>
    public static string Shared(string sub)
    {
        // The order of scripts/shared.sh.
        foreach (var baseDir in new[] { Environment.GetEnvironmentVariable("ZAR_SHARED") ?? "", Path.Combine(Root, "..", "shared"), "/work/shared" })
        {
            if (baseDir.Length == 0) continue;
            var p = Path.GetFullPath(Path.Combine(baseDir, sub));
            if (File.Exists(p) || Directory.Exists(p)) return p;
        }
        var msg = $"shared/{sub} is not beside the repository";
        if (Tools.InCI) Assert.Fail(msg);
        Assert.Skip(msg);
        return null!;
    }
}

/// <summary>
/// A server a test starts itself on a loopback port it picks, and kills when disposed. Missing program:
/// a failure in CI, a skip with a message elsewhere (scripts/install-deps.sh installs them all).
/// </summary>
public abstract class StoreServer : IDisposable
{
    Process? _process;
    public int Port { get; private set; }
    protected TempDir Dir { get; } = new();
    public string Log => File.Exists(Dir["server.log"]) ? File.ReadAllText(Dir["server.log"]) : "";

    protected static string RequireProgram(string name, params string[] candidates)
    {
        foreach (var c in candidates)
            if (File.Exists(c)) return c;
        return Tools.Require(name);
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    protected void Start(string file, IEnumerable<string> args, int port)
    {
        Port = port;
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        var log = new StreamWriter(Dir["server.log"]) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new Exception($"{file} exited with {_process.ExitCode}: {Log}");
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new Exception($"{file} did not listen on 127.0.0.1:{port} within 20 s: {Log}");
    }

    /// <summary>Kills the server now (a replica going down in the middle of a read).</summary>
    public void Stop()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Stop();
        _process?.Dispose();
        Dir.Dispose();
    }
}

/// <summary>zdb (0-db 2.0.7) built from shared/peers by scripts/peers.sh (on PATH in scripts/test.sh), in user-key mode.</summary>
public sealed class ZdbServer : StoreServer
{
    public ZdbServer()
    {
        var zdb = RequireProgram("zdb", Path.Combine(Environment.GetEnvironmentVariable("ZAR_PEERS") ?? "/var/tmp/zar-peers", "bin/zdb"));
        int port = FreePort();
        Start(zdb, ["--listen", "127.0.0.1", "--port", port.ToString(), "--data", Dir["data"], "--index", Dir["index"], "--mode", "user"], port);
    }

    public string Url(string? ns = null, string? password = null) =>
        $"zdb://{(password != null ? $"user:{password}@" : "")}127.0.0.1:{Port}{(ns != null ? "/" + ns : "")}";

    /// <summary>Runs an admin command (NSNEW, NSSET ...) and returns the reply.</summary>
    public RespReply Admin(params string[] command)
    {
        using var c = RespConnection.Connect("127.0.0.1", Port, null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        return c.Call(command.Cast<object>().ToArray());
    }

    /// <summary>A user-key namespace with a password; public means readable (read-only) without it.</summary>
    public void CreateNamespace(string ns, string? password, bool isPublic)
    {
        Assert.Equal("OK", Admin("NSNEW", ns).Text);
        if (password != null) Assert.Equal("OK", Admin("NSSET", ns, "password", password).Text);
        Assert.Equal("OK", Admin("NSSET", ns, "public", isPublic ? "1" : "0").Text);
    }
}

/// <summary>redis-server (Debian package), no persistence.</summary>
public sealed class RedisServer : StoreServer
{
    public RedisServer()
    {
        var redis = RequireProgram("redis-server");
        int port = FreePort();
        Start(redis, ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", Dir.Path], port);
    }

    public string Url => $"zdb://127.0.0.1:{Port}";
}

/// <summary>s3rver (npm, installed by scripts/install-deps.sh into scripts/servers/node_modules) with one bucket.</summary>
public sealed class S3Server : StoreServer
{
    public const string Bucket = "flist";

    public S3Server()
    {
        var s3rver = RequireProgram("s3rver", Path.Combine(RepoPaths.Root, "scripts/servers/node_modules/.bin/s3rver"));
        Tools.Require("node");
        int port = FreePort();
        Directory.CreateDirectory(Dir["data"]);
        Start(s3rver, ["-d", Dir["data"], "-a", "127.0.0.1", "-p", port.ToString(), "--configure-bucket", Bucket, "--no-vhost-buckets"], port);
    }

    /// <summary>s3rver's fixed credentials are S3RVER / S3RVER.</summary>
    public string Url => $"s3://S3RVER:S3RVER@127.0.0.1:{Port}/{Bucket}?region=us-east-1";

    /// <summary>The object files s3rver keeps for a bucket (one folder per object key).</summary>
    public bool HasObject(string key) => Directory.Exists(Path.Combine(Dir["data"], Bucket, key)) || File.Exists(Path.Combine(Dir["data"], Bucket, key + "._S3rver_object"));
}
