using System.Diagnostics;
using Zar.Formats.Erofs;
using Zar.Sources.Host;

namespace Zar.Bench;

/// <summary>Our EROFS writer vs plain uncompressed mkfs.erofs on the same tree, in the same run.</summary>
public static class ErofsBench
{
    public static void Run(string tree, string workDir)
    {
        Directory.CreateDirectory(workDir);
        var ours = Path.Combine(workDir, "zar.erofs");
        var theirs = Path.Combine(workDir, "mkfs.erofs");
        File.Delete(theirs);

        // Warm the page cache so neither side pays for the first read of the tree.
        Process.Start(new ProcessStartInfo("tar", ["-cf", "/dev/null", "-C", tree, "."]) { RedirectStandardError = true })!.WaitForExit();

        var sw = Stopwatch.StartNew();
        ErofsWriteResult result;
        using (var source = new HostDirectory(tree)) result = ErofsWriter.Write(source, ours);
        var oursTime = sw.Elapsed;

        // The same write without AtomicFile's fsync, to separate the writer's cost from the disk flush.
        sw.Restart();
        using (var source = new HostDirectory(tree))
        using (var plain = new FileStream(ours + ".nosync", FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            ErofsWriter.Write(source, plain);
        var noSyncTime = sw.Elapsed;
        File.Delete(ours + ".nosync");

        sw.Restart();
        var psi = new ProcessStartInfo("mkfs.erofs", ["--quiet", theirs, tree]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var p = Process.Start(psi)!)
        {
            var err = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) Console.WriteLine($"mkfs.erofs failed ({p.ExitCode}): {err.Result.Trim()}");
        }
        var mkfsTime = sw.Elapsed;
        // AtomicFile fsyncs before its rename; flush mkfs's output too for a like-for-like number.
        if (File.Exists(theirs))
            using (var f = new FileStream(theirs, FileMode.Open, FileAccess.ReadWrite)) f.Flush(flushToDisk: true);
        var mkfsSyncTime = sw.Elapsed;

        long oursSize = new FileInfo(ours).Length;
        long mkfsSize = File.Exists(theirs) ? new FileInfo(theirs).Length : 0;
        Console.WriteLine($"tree:        {tree} ({result.Inodes} inodes)");
        Console.WriteLine($"zar erofs:   {oursTime.TotalSeconds,8:F2} s  {oursSize,14:N0} bytes  ({result.CompactInodes} compact, {result.ExtendedInodes} extended inodes, {result.MetadataBlocks} metadata blocks)");
        Console.WriteLine($"  (without fsync: {noSyncTime.TotalSeconds:F2} s)");
        Console.WriteLine($"mkfs.erofs:  {mkfsTime.TotalSeconds,8:F2} s  {mkfsSize,14:N0} bytes  (with fsync: {mkfsSyncTime.TotalSeconds:F2} s)");
        if (mkfsSize > 0)
            Console.WriteLine($"ratio:       time {oursTime / mkfsSyncTime:F2}x with fsync on both, {noSyncTime / mkfsTime:F2}x without; size {(double)oursSize / mkfsSize:F4}x ({(oursSize - mkfsSize) * 100.0 / mkfsSize:+0.00;-0.00}%)");
    }
}
