using System.Diagnostics;

namespace Zar.Tests.Support;

/// <summary>External tools the tests compare against. Missing tool: a failure in CI, a skip with a message elsewhere.</summary>
public static class Tools
{
    public static bool InCI => Environment.GetEnvironmentVariable("CI") is "true" or "1";

    public static string Require(string tool)
    {
        var path = Find(tool);
        if (path != null) return path;
        var msg = $"{tool} is not installed (run .ci/run or README's setup to install it)";
        if (InCI) Assert.Fail(msg);
        Assert.Skip(msg);
        return null!;
    }

    /// <summary>The Debian corpus image (scripts/corpus.sh builds it): its directory, or a failure in CI and a skip elsewhere.</summary>
    public static string RequireCorpus(string relative = "debian-oci")
    {
        var root = Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";
        var path = Path.Combine(root, relative);
        if (File.Exists(Path.Combine(root, "MANIFEST.txt")) && (Directory.Exists(path) || File.Exists(path))) return path;
        var msg = $"{path} not present (scripts/corpus.sh builds it)";
        if (InCI) Assert.Fail(msg);
        Assert.Skip(msg);
        return null!;
    }

    public static void RequireRoot()
    {
        if (Environment.UserName == "root") return;
        if (InCI) Assert.Fail("this test needs root (mount)");
        Assert.Skip("this test needs root (mount)");
    }

    public static string? Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(new[] { "/usr/sbin", "/sbin" }))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Runs a program; returns (exit code, stdout, stderr). Never hangs past the timeout.</summary>
    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, string? cwd = null, int timeoutMs = 300_000, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin != null, UseShellExecute = false };
        if (cwd != null) psi.WorkingDirectory = cwd;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin != null) { p.StandardInput.Write(stdin); p.StandardInput.Close(); }
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} timed out"); }
        return (p.ExitCode, o.Result, e.Result);
    }

    public static string Sh(string script, string? cwd = null)
    {
        var r = Run("/bin/bash", new[] { "-euo", "pipefail", "-c", script }, cwd);
        if (r.Code != 0) throw new Exception($"shell failed ({r.Code}): {script}\n{r.Err}");
        return r.Out;
    }
}

/// <summary>A temporary directory removed at the end of the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("zar-test-").FullName;

    /// <summary>A temporary directory under <paramref name="parent"/> (e.g. /dev/shm for tests that time file creation).</summary>
    public TempDir(string parent) => Path = Directory.CreateDirectory(System.IO.Path.Combine(parent, "zar-test-" + Guid.NewGuid().ToString("N")[..12])).FullName;

    public string Path { get; }
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Tools.Run("/bin/rm", new[] { "-rf", "--one-file-system", Path }); } catch { }
    }
}
