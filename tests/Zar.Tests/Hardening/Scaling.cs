using System.Diagnostics;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>
/// Work per item bounded without a wall-clock limit: the same operation on n and on 10n items in one
/// run. Linear work grows about 10x; quadratic work grows 100x. The bound leaves room for noise on a
/// shared machine (GC, other processes) while no quadratic algorithm can meet it.
/// </summary>
public static class Scaling
{
    /// <summary>
    /// A scratch directory in memory (/dev/shm) when there is one: timing file creation on a disk shared
    /// with other jobs measures the disk, not our code.
    /// </summary>
    public static TempDir Scratch()
    {
        var t = new TempDir();
        if (!Directory.Exists("/dev/shm")) return t;
        t.Dispose();
        return new TempDir("/dev/shm");
    }

    public const double MaxRatio = 30;

    /// <summary>Fastest of <paramref name="runs"/> runs, after one warm-up run (JIT) of <paramref name="warmUp"/>.</summary>
    public static TimeSpan Time(Action action, int runs = 1)
    {
        var best = TimeSpan.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            if (sw.Elapsed < best) best = sw.Elapsed;
        }
        return best;
    }

    /// <summary>Runs <paramref name="run"/>(n) (warm-up, then timed twice) and <paramref name="run"/>(10n); asserts the ratio.</summary>
    public static void AssertLinear(string what, int n, Action<int> run)
    {
        run(Math.Max(1, n / 10));
        var small = Time(() => run(n), runs: 2);
        var large = Time(() => run(10 * n));
        double ratio = large.TotalMilliseconds / Math.Max(1, small.TotalMilliseconds);
        Assert.True(ratio < MaxRatio,
            $"{what}: {n} items took {small.TotalMilliseconds:F0} ms, {10 * n} took {large.TotalMilliseconds:F0} ms (x{ratio:F1}; linear is about x10, quadratic x100)");
        TestContext.Current.TestOutputHelper?.WriteLine($"{what}: n={n} {small.TotalMilliseconds:F0} ms, 10n {large.TotalMilliseconds:F0} ms, x{ratio:F1}");
    }
}
