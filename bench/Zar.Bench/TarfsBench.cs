using System.Diagnostics;
using Zar.Formats.Tarfs;
using Zar.Formats.Verity;
using Zar.Sources;
using Zar.Sources.Layers;

namespace Zar.Bench;

/// <summary>
/// tarfs on the Debian image's uncompressed layers, each against its peer on the same tars in the same run:
/// metadata (zar tarfs --meta-only per layer) vs <c>mkfs.erofs --tar=i</c>; whole layer disks (zar tarfs
/// layer_block) vs <c>mkfs.erofs --tar=f</c> per layer; the hash tree vs <c>veritysetup format</c>.
/// </summary>
public static class TarfsBench
{
    public static void Run(string layout, string workDir, int runs = 3)
    {
        Directory.CreateDirectory(workDir);
        var reference = $"oci:{layout}:latest";
        var open = new OpenOptions { Stack = new LayerStackOptions { Verify = false } };
        string[] tars;
        using (var stack = SourceOpener.OpenStack(reference, open))
        {
            tars = stack.Source.Layers.Select(l => l.Locate()?.File ?? throw new Exception($"{l.Description}: not a file (give an uncompressed layout)")).ToArray();
            if (stack.Layers.Any(l => l.Compression != Zar.Sources.Tar.LayerCompression.None)) throw new Exception("give a layout with uncompressed layers (debian-oci-plain)");
        }
        long tarBytes = tars.Sum(t => new FileInfo(t).Length);
        foreach (var t in tars) Timing.Run("cat", t, "/dev/null"); // warm the page cache for both sides
        Console.WriteLine($"image:       {reference}: {tars.Length} layers, {tarBytes:N0} bytes of tar");

        // 1. Metadata only (the tars stay where they are).
        var metaDir = Path.Combine(workDir, "meta");
        double ours = Timing.Best(runs, () => { if (Directory.Exists(metaDir)) Directory.Delete(metaDir, true); }, () =>
        {
            using var stack = SourceOpener.OpenStack(reference, open);
            TarfsBuilder.Build(stack, metaDir, new TarfsOptions { Mode = TarfsMode.LayerBlock, MetaOnly = true });
        });
        long oursMeta = Directory.GetFiles(metaDir).Sum(f => new FileInfo(f).Length);
        var mkfs = Timing.Has("mkfs.erofs") ? "mkfs.erofs" : null;
        double theirs = mkfs == null ? 0 : Timing.Best(runs, () => { }, () =>
        {
            for (int i = 0; i < tars.Length; i++) Peer(i, mkfs, "--quiet", "--tar=i", Path.Combine(workDir, $"mkfs{i}.meta"), tars[i]);
        });
        long theirsMeta = tars.Select((_, i) => Path.Combine(workDir, $"mkfs{i}.meta")).Where(File.Exists).Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"metadata:    zar tarfs --meta-only {ours,6:F2} s {oursMeta,12:N0} bytes | mkfs.erofs --tar=i {theirs,6:F2} s {theirsMeta,12:N0} bytes | time {ours / theirs:F2}x ({tarBytes / 1e9 / ours:F1} GB of tar/s vs {tarBytes / 1e9 / theirs:F1})");

        // 2. Whole per-layer disks (the tars copied into them) vs full images with the data copied.
        var diskDir = Path.Combine(workDir, "disks");
        ours = Timing.Best(runs, () => { if (Directory.Exists(diskDir)) Directory.Delete(diskDir, true); }, () =>
        {
            using var stack = SourceOpener.OpenStack(reference, open);
            TarfsBuilder.Build(stack, diskDir, new TarfsOptions { Mode = TarfsMode.LayerBlock });
        });
        long oursDisks = Directory.GetFiles(diskDir).Sum(f => new FileInfo(f).Length);
        theirs = mkfs == null ? 0 : Timing.Best(runs, () => { }, () =>
        {
            for (int i = 0; i < tars.Length; i++) Peer(i, mkfs, "--quiet", "--tar=f", Path.Combine(workDir, $"mkfs{i}.full"), tars[i]);
        });
        long theirsFull = tars.Select((_, i) => Path.Combine(workDir, $"mkfs{i}.full")).Where(File.Exists).Sum(f => new FileInfo(f).Length);
        Console.WriteLine($"layer disks: zar tarfs layer_block {ours,6:F2} s {oursDisks,12:N0} bytes | mkfs.erofs --tar=f {theirs,6:F2} s {theirsFull,12:N0} bytes | time {ours / theirs:F2}x; disks = tars + {(oursDisks - tarBytes) * 100.0 / tarBytes:F2}%");

        var image = Path.Combine(workDir, "image.disk");
        using (var stack = SourceOpener.OpenStack(reference, open))
            TarfsBuilder.Build(stack, image, new TarfsOptions { Mode = TarfsMode.ImageBlock });
        long imageBytes = new FileInfo(image).Length;
        Console.WriteLine($"image disk:  {imageBytes:N0} bytes = tars + {(imageBytes - tarBytes) * 100.0 / tarBytes:F2}% (metadata + 512 KiB alignment)");

        // 3. The hash tree over the image disk (512-byte data blocks), ours vs veritysetup's, on copies of the same bytes.
        var p = VerityParameters.For(imageBytes);
        VerityTreeInfo? tree = null;
        ours = Timing.Best(runs, () => Truncate(image, imageBytes), () => tree = VerityTree.Format(image));
        var vs = Timing.Has("veritysetup") ? "veritysetup" : null;
        string? root = null;
        theirs = vs == null ? 0 : Timing.Best(runs, () => Truncate(image, imageBytes), () =>
        {
            var psi = new ProcessStartInfo(vs, ["format", "--no-superblock", "--format=1", "--salt=-", "--hash=sha256", "--data-block-size=512", "--hash-block-size=4096",
                "--data-blocks", p.DataBlocks.ToString(), "--hash-offset", p.HashOffset.ToString(), image, image]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var proc = Process.Start(psi)!;
            var output = proc.StandardOutput.ReadToEnd();
            proc.WaitForExit();
            root = output.Split('\n').FirstOrDefault(l => l.StartsWith("Root hash:"))?.Split(':')[1].Trim();
        });
        Console.WriteLine($"verity:      zar {ours,6:F2} s | veritysetup format {theirs,6:F2} s | time {ours / theirs:F2}x over {imageBytes:N0} bytes ({Environment.ProcessorCount} cores); root hashes {(root == tree!.RootHash ? "equal" : $"DIFFER ({tree.RootHash} vs {root})")}");
    }

    /// <summary>Runs the peer on one layer; mkfs.erofs 1.9.3 aborts on whiteouts below a file (umoci's layer 3 has
    /// them) and leaves a sparse partial image behind: reported once, the partial removed, the rest still timed.</summary>
    static void Peer(int layer, string file, params string[] args)
    {
        try { Timing.Run(file, args); }
        catch (Exception e)
        {
            File.Delete(args[^2]);
            if (Reported.Add($"{args[1]}:{layer}")) Console.WriteLine($"  {file} {args[1]} failed on layer {layer + 1}: {e.Message.Split('\n')[0].Trim()}");
        }
    }

    static readonly HashSet<string> Reported = [];

    static void Truncate(string path, long length)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
        f.SetLength(length);
    }
}
