using System.Diagnostics;
using Zar.Sources.Tar;

namespace Zar.Bench;

/// <summary>Our tar reader against GNU tar over one archive (plain, gzip or zstd).</summary>
public static class TarBench
{
    public static void Run(string tarPath)
    {
        // Warm the page cache so both sides read from memory.
        using (var f = File.OpenRead(tarPath)) f.CopyTo(Stream.Null);

        var list = Time(() => Scan(tarPath, readData: false), out var listStats);
        var read = Time(() => Scan(tarPath, readData: true), out var readStats);
        var gnuList = Time(() => GnuTar(tarPath, "-tvf"), out _);
        var gnuRead = Time(() => GnuTar(tarPath, "-xOf"), out _);

        long size = new FileInfo(tarPath).Length;
        Console.WriteLine($"{tarPath}: {size / 1048576.0:F1} MiB compressed, {listStats.Entries} entries, {readStats.Bytes / 1048576.0:F1} MiB of file data, {listStats.Compression}");
        Console.WriteLine($"  list (headers only):   zar {list.TotalMilliseconds,8:F0} ms   tar -tvf {gnuList.TotalMilliseconds,8:F0} ms   ratio {list / gnuList:F2}");
        Console.WriteLine($"  read (all file data):  zar {read.TotalMilliseconds,8:F0} ms   tar -xOf {gnuRead.TotalMilliseconds,8:F0} ms   ratio {read / gnuRead:F2}");
        Console.WriteLine($"  zar throughput: {readStats.TarBytes / 1048576.0 / read.TotalSeconds:F0} MiB/s of uncompressed tar");
    }

    record struct Stats(long Entries, long Bytes, long TarBytes, LayerCompression Compression);

    static Stats Scan(string path, bool readData)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        // A plain tar stays seekable, so skipping data is a seek (as GNU tar does on a regular file).
        using var reader = new TarReader(LayerStream.Open(file, out var compression), path);
        var buffer = new byte[256 * 1024];
        long entries = 0, bytes = 0;
        while (reader.Next() is { } e)
        {
            entries++;
            if (!readData || e.StoredSize == 0) continue;
            var data = reader.OpenData();
            int n;
            while ((n = data.Read(buffer)) > 0) bytes += n;
        }
        return new Stats(entries, bytes, reader.Position, compression);
    }

    static void GnuTar(string path, string mode)
    {
        var psi = new ProcessStartInfo("tar") { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(mode);
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        p.StandardOutput.BaseStream.CopyTo(Stream.Null);
        p.WaitForExit();
    }

    static TimeSpan Time<T>(Func<T> run, out T result)
    {
        result = run(); // warm-up (JIT, cache)
        var best = TimeSpan.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            result = run();
            if (sw.Elapsed < best) best = sw.Elapsed;
        }
        return best;
    }

    static TimeSpan Time(Action run, out object? none)
    {
        none = null;
        return Time(() => { run(); return 0; }, out _);
    }
}
