using System.Diagnostics;
using System.Globalization;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Sources.Host;

namespace Zar.Bench;

/// <summary>
/// zar mount against the other ways of serving the same tree read-only: squashfuse (and its low-level
/// squashfuse_ll) on a mksquashfs image, erofsfuse 1.9.3 and the kernel's EROFS on our EROFS image.
/// Figures: a find -exec stat walk, reading every file once (tar into a pipe: tar skips reading when it
/// writes to /dev/null), and 10,000 random 4 KiB reads (open, pread, close), each cold (caches dropped,
/// fresh mount) and warm (the same again). Needs root; drops the page cache.
/// </summary>
static class MountBench
{
    const int RandomReads = 10_000;

    /// <summary>The merged Debian image's tree (umoci unpack of the corpus image), else the default corpus tree.</summary>
    public static string DefaultTree()
    {
        var corpus = Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";
        var merged = Path.Combine(corpus, "merged", "bundle", "rootfs");
        return Directory.Exists(merged) ? merged : Corpus.DefaultTree();
    }

    sealed record Server(string Name, Func<string, Process?> Mount, string? Image);

    public static void Run(string tree, string work)
    {
        if (Environment.UserName != "root") throw new Exception("the mount benchmark needs root (mount, drop_caches)");
        tree = Path.GetFullPath(tree);
        Console.WriteLine($"mount bench: tree {tree}");
        var zarImage = Path.Combine(work, "tree.zar");
        var erofsImage = Path.Combine(work, "tree.erofs");
        var squashImage = Path.Combine(work, "tree.squashfs");
        using (var host = new HostDirectory(tree))
        {
            ZarBuilder.Create(host, zarImage);
            ErofsWriter.Write(host, erofsImage);
        }
        Timing.Run("mksquashfs", tree, squashImage, "-noappend", "-quiet", "-no-progress");
        Console.WriteLine($"images: zar {Mb(zarImage)}, EROFS {Mb(erofsImage)}, squashfs {Mb(squashImage)} (mksquashfs defaults: gzip)");

        var erofsfuse = FindErofsFuse();
        var zar = PublishZar(work);
        var servers = new List<Server>
        {
            new("zar", mp => StartZar(zar, zarImage, mp), zarImage),
            new("squashfuse", mp => StartDaemon("squashfuse", squashImage, mp), squashImage),
            new("squashfuse_ll", mp => StartDaemon("squashfuse_ll", squashImage, mp), squashImage),
        };
        if (erofsfuse != null) servers.Add(new("erofsfuse", mp => StartDaemon(erofsfuse, erofsImage, mp), erofsImage));
        else Console.WriteLine("erofsfuse not found (bash ../shared/peers/build-erofs-utils.sh /work/peers-bin): left out");
        servers.Add(new("kernel erofs", mp => { Timing.Run("mount", "-t", "erofs", "-o", "loop,ro", erofsImage, mp); return null; }, erofsImage));
        // ZAR_BENCH_SERVERS=zar,erofsfuse measures only those (zar always comes first: the ratios are against it).
        if (Environment.GetEnvironmentVariable("ZAR_BENCH_SERVERS") is { Length: > 0 } only)
            servers = servers.Where(s => s.Name == "zar" || only.Split(',').Contains(s.Name)).ToList();

        var reads = PlanRandomReads(tree);
        var figures = new[] { "walk cold", "walk warm", "read all cold", "read all warm", "4K random cold", "4K random warm" };
        var results = new Dictionary<string, Dictionary<string, double>>();
        var rss = new Dictionary<string, (long Total, long Anon)>();
        var mountPoint = Path.Combine(work, "mnt");
        Directory.CreateDirectory(mountPoint);
        foreach (var s in servers)
        {
            var r = results[s.Name] = new();
            long peak = 0, peakAnon = 0;
            foreach (var (figure, action) in new (string, Action<string>)[]
            {
                ("walk", mp => Shell("find . -exec stat -c '%i %s' {} + > /dev/null", mp)),
                ("read all", mp => Shell("tar -cf - . | cat > /dev/null", mp)),
                ("4K random", mp => RandomRead(mp, reads)),
            })
            {
                DropCaches();
                var server = s.Mount(mountPoint);
                using var sampler = server == null ? null : new AnonSampler(server.Id);
                try
                {
                    WaitMounted(mountPoint);
                    r[figure + " cold"] = Time(() => action(mountPoint));
                    r[figure + " warm"] = Enumerable.Range(0, 3).Min(_ => Time(() => action(mountPoint)));
                    if (server != null) peak = Math.Max(peak, Status(server.Id, "VmHWM:"));
                }
                finally
                {
                    if (sampler != null) peakAnon = Math.Max(peakAnon, sampler.Stop());
                    Unmount(mountPoint, server);
                }
            }
            if (peak > 0) rss[s.Name] = (peak, peakAnon);
            Console.WriteLine($"  {s.Name,-14} " + string.Join("  ", figures.Select(f => $"{f} {r[f]:F3}s")));
        }

        Console.WriteLine();
        Console.WriteLine("seconds (lower is better); ratios: other / zar (above 1: zar is faster)");
        var names = servers.Select(s => s.Name).ToList();
        Console.WriteLine($"{"figure",-16}" + string.Concat(names.Select(n => $"{n,15}")) + string.Concat(names.Skip(1).Select(n => $"{n + "/zar",20}")));
        foreach (var f in figures)
        {
            Console.Write($"{f,-16}");
            foreach (var n in names) Console.Write($"{results[n][f],15:F3}");
            foreach (var n in names.Skip(1)) Console.Write($"{results[n][f] / results["zar"][f],20:F2}");
            Console.WriteLine();
        }
        // A server that maps its image (zar) has the image's page-cache pages in its RSS: shared and reclaimable,
        // so its own memory is the anonymous part.
        Console.WriteLine("peak RSS of the server (VmHWM; anonymous, sampled every 20 ms): " +
            string.Join(", ", rss.Select(kv => $"{kv.Key} {kv.Value.Total / 1024.0:F1} MiB ({kv.Value.Anon / 1024.0:F1} MiB)")));
    }

    static string Mb(string path) => $"{new FileInfo(path).Length / 1048576.0:F1} MiB";

    static string? FindErofsFuse()
    {
        foreach (var p in new[] { "/work/peers-bin/erofs-utils-1.9.3/bin/erofsfuse", "/work/peers-bin/bin/erofsfuse" })
            if (File.Exists(p)) return p;
        return Timing.Has("erofsfuse") ? "erofsfuse" : null;
    }

    /// <summary>
    /// The zar binary as it ships (scripts/demo.sh: dotnet publish with ReadyToRun, so a fresh server runs
    /// precompiled code, not the JIT's first tier); $ZAR_BIN instead when set.
    /// </summary>
    static string PublishZar(string work)
    {
        if (Environment.GetEnvironmentVariable("ZAR_BIN") is { Length: > 0 } bin) return bin;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Zar.slnx"))) dir = dir.Parent;
        if (dir == null) throw new Exception("cannot find the repository (Zar.slnx) to publish zar from; set ZAR_BIN");
        var output = Path.Combine(work, "zar-bin");
        Timing.Run("dotnet", "publish", Path.Combine(dir.FullName, "src", "Zar.Cli"), "-c", "Release", "-o", output,
            "--use-current-runtime", "--self-contained", "false", "-p:PublishReadyToRun=true", "--nologo", "-v", "quiet");
        return Path.Combine(output, "Zar.Cli");
    }

    static Process StartZar(string zar, string image, string mountPoint)
    {
        var psi = new ProcessStartInfo(zar) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "mount", "--background", image, mountPoint }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new Exception($"zar mount failed: {err}");
        var pid = int.Parse(System.Text.RegularExpressions.Regex.Match(output, @"server pid (\d+)").Groups[1].Value);
        return Process.GetProcessById(pid);
    }

    /// <summary>Starts a FUSE server that daemonizes itself and returns its process (found by its command line).</summary>
    static Process? StartDaemon(string program, string image, string mountPoint)
    {
        Timing.Run(program, image, mountPoint);
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (cmdline.Contains(mountPoint) && cmdline.Contains(image)) return Process.GetProcessById(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    static void WaitMounted(string mountPoint)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.ReadAllText("/proc/self/mountinfo").Contains(" " + mountPoint + " ")) return;
            Thread.Sleep(20);
        }
        throw new Exception($"{mountPoint} did not get mounted");
    }

    static void Unmount(string mountPoint, Process? server)
    {
        Timing.Run("umount", mountPoint);
        if (server == null) return;
        if (!server.WaitForExit(10_000)) server.Kill();
        server.Dispose();
    }

    static void DropCaches()
    {
        Timing.Run("sync");
        File.WriteAllText("/proc/sys/vm/drop_caches", "3");
    }

    static void Shell(string command, string cwd)
    {
        var psi = new ProcessStartInfo("/bin/bash") { WorkingDirectory = cwd, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("set -o pipefail; " + command);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new Exception($"{command} in {cwd}: {err}");
    }

    static double Time(Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>A field of /proc/PID/status in KiB (VmHWM: peak resident set; RssAnon: anonymous resident now).</summary>
    static long Status(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadAllLines($"/proc/{pid}/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return 0;
    }

    /// <summary>The peak of a process's anonymous resident memory, sampled (the kernel keeps no peak of it).</summary>
    sealed class AnonSampler : IDisposable
    {
        readonly Thread _thread;
        volatile bool _stop;
        long _peak;

        public AnonSampler(int pid)
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    _peak = Math.Max(_peak, Status(pid, "RssAnon:"));
                    Thread.Sleep(20);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public long Stop()
        {
            _stop = true;
            _thread.Join();
            return _peak;
        }

        public void Dispose() => Stop();
    }

    /// <summary>10,000 (file, 4 KiB-aligned offset) pairs over the tree's regular files, the same for every server.</summary>
    static List<(string Path, long Offset)> PlanRandomReads(string tree)
    {
        var files = new List<(string, long)>();
        foreach (var f in Directory.EnumerateFiles(tree, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }))
        {
            var info = new FileInfo(f);
            if (info.LinkTarget != null || info.Length == 0) continue;
            files.Add((Path.GetRelativePath(tree, f), info.Length));
        }
        var rng = new Random(42);
        return Enumerable.Range(0, RandomReads).Select(_ =>
        {
            var (path, size) = files[rng.Next(files.Count)];
            return (path, rng.NextInt64((size + 4095) / 4096) * 4096);
        }).ToList();
    }

    static void RandomRead(string mountPoint, List<(string Path, long Offset)> reads)
    {
        var buf = new byte[4096];
        foreach (var (path, offset) in reads)
        {
            using var h = File.OpenHandle(Path.Combine(mountPoint, path), FileMode.Open, FileAccess.Read);
            RandomAccess.Read(h, buf, offset);
        }
    }
}
