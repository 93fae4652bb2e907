using System.Diagnostics;
using System.Globalization;

namespace Zar.Bench;

/// <summary>
/// Pull + flatten an image from a registry on 127.0.0.1: `zar convert docker://… -o x.zar` against
/// `skopeo copy docker://… oci:…` followed by `umoci unpack`, each from an empty cache, same run.
/// Wall time and peak RSS (from /usr/bin/time) of each.
/// </summary>
static class ImageBench
{
    public static void Run(string reference, string work)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll");
        var rows = new List<(string Tool, double Seconds, long PeakKiB)>();
        for (int run = 0; run < 2; run++)
        {
            var cache = Path.Combine(work, "cache");
            var oci = Path.Combine(work, "oci");
            var bundle = Path.Combine(work, "bundle");
            foreach (var d in new[] { cache, oci, bundle }) if (Directory.Exists(d)) Timing.Run("rm", "-rf", d);
            var zar = Timed("dotnet", cli, "convert", "docker://" + reference, "--cache", cache, "-o", Path.Combine(work, "image.zar"));
            var skopeo = Timed("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + reference, "oci:" + oci + ":bench");
            var umoci = Timed("umoci", "unpack", "--image", oci + ":bench", bundle);
            if (run == 1)
            {
                rows.Add(("zar convert (pull + flatten)", zar.Seconds, zar.PeakKiB));
                rows.Add(("skopeo copy", skopeo.Seconds, skopeo.PeakKiB));
                rows.Add(("umoci unpack", umoci.Seconds, umoci.PeakKiB));
                rows.Add(("skopeo + umoci", skopeo.Seconds + umoci.Seconds, Math.Max(skopeo.PeakKiB, umoci.PeakKiB)));
            }
        }
        Console.WriteLine();
        Console.WriteLine($"pull + flatten docker://{reference}");
        Console.WriteLine($"{"",-30} {"seconds",9} {"peak RSS MiB",13}");
        foreach (var r in rows) Console.WriteLine($"{r.Tool,-30} {r.Seconds,9:F2} {r.PeakKiB / 1024.0,13:F1}");
        Console.WriteLine($"ratio (skopeo+umoci)/zar: {rows[3].Seconds / rows[0].Seconds:F2}x");
    }

    static (double Seconds, long PeakKiB) Timed(string file, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add("ZARTIME %e %M");
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new Exception($"{file} {string.Join(' ', args)} failed: {err}");
        var line = err.Split('\n').Last(l => l.StartsWith("ZARTIME ", StringComparison.Ordinal)).Split(' ');
        return (double.Parse(line[1], CultureInfo.InvariantCulture), long.Parse(line[2], CultureInfo.InvariantCulture));
    }
}
