using System.Diagnostics;
using Zar.Consumers.Cfs;

namespace Zar.Bench;

/// <summary>
/// `zar cfs` (per-layer zar images + Dockerfile, then the OCI image of them) against what a ContainerFS build
/// replaces: copying the image and unpacking it to a root filesystem (`skopeo copy oci:… oci:…` + `umoci unpack`).
/// </summary>
public static class CfsBench
{
    public static void Run(string imageRef, string workDir, int runs = 2)
    {
        Directory.CreateDirectory(workDir);
        var dest = Path.Combine(workDir, "cfs-dest");
        var oci = Path.Combine(workDir, "cfs-oci");
        CfsResult? result = null;
        double generate = double.MaxValue, layout = double.MaxValue;
        for (int i = 0; i < runs; i++)
        {
            Clean(dest, oci);
            var sw = Stopwatch.StartNew();
            result = CfsGenerator.Generate(imageRef, dest);
            generate = Math.Min(generate, sw.Elapsed.TotalSeconds);
            sw.Restart();
            CfsOciImage.Build(result).WriteOciLayout(oci, "cfs");
            layout = Math.Min(layout, sw.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"cfs {imageRef}: {result!.Layers.Count} layers; generate {generate:F2} s, OCI layout {layout:F2} s, total {generate + layout:F2} s");
        foreach (var l in result.Layers)
            Console.WriteLine($"  {l.FileName}: {l.Entries} entries, zar {l.ZarSize / 1048576.0:F1} MiB (source layer tar {l.SourceTarSize / 1048576.0:F1} MiB)");
        Console.WriteLine($"  total zar {result.Layers.Sum(l => l.ZarSize) / 1048576.0:F1} MiB, source tars {result.Layers.Sum(l => l.SourceTarSize) / 1048576.0:F1} MiB");

        if (!Timing.Has("skopeo") || !Timing.Has("umoci") || Environment.UserName != "root")
        {
            Console.WriteLine("  peer skipped (needs skopeo, umoci and root)");
            return;
        }
        var peerLayout = Path.Combine(workDir, "peer-oci");
        var bundle = Path.Combine(workDir, "peer-bundle");
        double peer = Timing.Best(runs, () => Clean(peerLayout, bundle), () =>
        {
            Timing.Run("skopeo", "copy", "-q", imageRef, $"oci:{peerLayout}:latest");
            Timing.Run("umoci", "unpack", "--image", $"{peerLayout}:latest", bundle);
        });
        Console.WriteLine($"  peer skopeo copy + umoci unpack: {peer:F2} s; zar cfs / peer = {(generate + layout) / peer:F2}");
        Clean(peerLayout, bundle);
    }

    static void Clean(params string[] dirs)
    {
        foreach (var d in dirs) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
    }
}
