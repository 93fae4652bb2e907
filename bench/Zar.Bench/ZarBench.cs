using System.Diagnostics;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources.Host;

namespace Zar.Bench;

/// <summary>
/// `zar create` against mkfs.erofs (uncompressed), mksquashfs (-noI -noD -noF -noX) and tar -cf on the same
/// tree, then random look-up + read of small files from the zar image vs the extracted directory.
/// </summary>
static class ZarBench
{
    public static void Run(string tree, string work)
    {
        var zarOut = Path.Combine(work, "tree.zar");
        var results = new List<(string Tool, double Seconds, long Bytes)>();
        void Measure(string name, string output, Action act)
        {
            try
            {
                double s = Timing.Best(3, () => { if (File.Exists(output)) File.Delete(output); }, act);
                results.Add((name, s, new FileInfo(output).Length));
            }
            catch (Exception e) when (!name.StartsWith("zar create", StringComparison.Ordinal))
            {
                // A peer that cannot take the tree (Debian's mkfs.erofs 1.5 and a 255-byte name) is reported; the run goes on.
                Console.WriteLine($"{name}: peer failed: {e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()}");
            }
        }
        Measure("zar create", zarOut, () => { using var fs = new HostDirectory(tree); ZarBuilder.Create(fs, zarOut); });
        // mkfs.erofs, mksquashfs and tar do not fsync their output; zar create does (temp name + rename).
        var noSync = Path.Combine(work, "nosync.zar");
        Measure("zar create (no fsync, like peers)", noSync, () =>
        {
            using var fs = new HostDirectory(tree);
            using var o = new FileStream(noSync, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16);
            ZarBuilder.Write(fs, o);
        });
        if (Timing.Has("mkfs.erofs")) Measure("mkfs.erofs", Path.Combine(work, "tree.erofs"), () => Timing.Run("mkfs.erofs", "--quiet", Path.Combine(work, "tree.erofs"), tree));
        if (Timing.Has("mksquashfs")) Measure("mksquashfs -noI -noD -noF -noX", Path.Combine(work, "tree.sqfs"), () => Timing.Run("mksquashfs", tree, Path.Combine(work, "tree.sqfs"), "-noI", "-noD", "-noF", "-noX", "-quiet", "-no-progress", "-noappend"));
        Measure("tar -cf", Path.Combine(work, "tree.tar"), () => Timing.Run("tar", "-cf", Path.Combine(work, "tree.tar"), "-C", tree, "."));
        double zar = results[1].Seconds;
        Console.WriteLine();
        Console.WriteLine($"{"create",-34} {"seconds",9} {"image MiB",10} {"time / zar(no fsync)",22}");
        foreach (var r in results)
            Console.WriteLine($"{r.Tool,-34} {r.Seconds,9:F3} {r.Bytes / 1048576.0,10:F1} {r.Seconds / zar,22:F2}");

        LookupRead(tree, zarOut);
    }

    /// <summary>Median latency of look-up + full read of random small files, hot (every file read once before timing).</summary>
    static void LookupRead(string tree, string zarPath)
    {
        using var image = ZarImage.Open(zarPath);
        var small = image.Walk().Where(e => e.IsRegular && e.Size > 0 && e.Size <= 16384).Select(e => e.Path).ToArray();
        if (small.Length == 0) { Console.WriteLine("no small files in the tree"); return; }
        var rng = new Random(42);
        var picks = Enumerable.Range(0, 10_000).Select(_ => small[rng.Next(small.Length)]).ToArray();
        var buffer = new byte[16384];
        long sink = 0;

        // Warm both sides for a second: page cache, our verification bits, and the JIT's tier-1 code
        // (tiered compilation promotes hot methods only after a delay; a short warm-up measures tier 0).
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1)
        {
            foreach (var p in picks) { var e = image.Lookup(p)!; sink += image.Read(e, 0, buffer); }
            foreach (var p in picks) sink += ReadHost(Path.Combine(tree, p), buffer);
        }

        var zarNs = new double[picks.Length];
        var hostNs = new double[picks.Length];
        double tickNs = 1e9 / Stopwatch.Frequency;
        for (int i = 0; i < picks.Length; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            var e = image.Lookup(picks[i])!;
            sink += image.Read(e, 0, buffer);
            zarNs[i] = (Stopwatch.GetTimestamp() - t0) * tickNs;
        }
        for (int i = 0; i < picks.Length; i++)
        {
            var path = Path.Combine(tree, picks[i]);
            long t0 = Stopwatch.GetTimestamp();
            sink += ReadHost(path, buffer);
            hostNs[i] = (Stopwatch.GetTimestamp() - t0) * tickNs;
        }
        Array.Sort(zarNs);
        Array.Sort(hostNs);
        Console.WriteLine();
        Console.WriteLine($"look-up + read of 10,000 random small files ({small.Length} candidates, <= 16 KiB), hot:");
        Console.WriteLine($"  zar image (library):      median {zarNs[zarNs.Length / 2] / 1000,8:F2} us   p99 {zarNs[zarNs.Length * 99 / 100] / 1000,8:F2} us");
        Console.WriteLine($"  extracted dir (open/read): median {hostNs[hostNs.Length / 2] / 1000,8:F2} us   p99 {hostNs[hostNs.Length * 99 / 100] / 1000,8:F2} us");
        Console.WriteLine($"  ratio dir/zar (median):    {hostNs[hostNs.Length / 2] / zarNs[zarNs.Length / 2],8:F1}x");
        GC.KeepAlive(sink);
    }

    static int ReadHost(string path, byte[] buffer)
    {
        using var h = File.OpenHandle(path);
        return RandomAccess.Read(h, buffer, 0);
    }
}
