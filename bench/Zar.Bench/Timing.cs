using System.Diagnostics;

namespace Zar.Bench;

static class Timing
{
    /// <summary>Best of N wall-clock runs (caches warm after the first), in seconds.</summary>
    public static double Best(int runs, Action setup, Action work)
    {
        double best = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            setup();
            var sw = Stopwatch.StartNew();
            work();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    public static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new Exception($"{file} {string.Join(' ', args)} failed: {err.Result}");
    }

    public static bool Has(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Any(d => File.Exists(Path.Combine(d, tool)));
}
