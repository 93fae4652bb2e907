using System.Diagnostics;
using Zar.Consumers;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Layers;

namespace Zar.Bench;

/// <summary>Scan + merge of an image reference, then one streaming pass over all file data; umoci unpack as a yardstick.</summary>
public static class LayerStackBench
{
    public static void Run(string reference)
    {
        foreach (var verify in new[] { true, false })
        {
            var sw = Stopwatch.StartNew();
            using var stack = SourceOpener.OpenStack(reference, new OpenOptions { Stack = new LayerStackOptions { Verify = verify } });
            var scan = sw.Elapsed;
            sw.Restart();
            long bytes = 0, files = 0;
            var buffer = new byte[256 * 1024];
            StreamingPass.Run(stack.Merged, (e, _, s) =>
            {
                if (s == null) return;
                files++;
                int n;
                while ((n = s.Read(buffer)) > 0) bytes += n;
            }, stack.Blobs);
            var copy = sw.Elapsed;
            long tar = stack.Layers.Sum(l => l.TarBytes);
            Console.WriteLine($"{reference} verify={verify}: {stack.Layers.Count} layers ({string.Join(",", stack.Layers.Select(l => l.Compression))}), " +
                $"{tar / 1048576.0:F0} MiB of tar, {stack.Merged.Walk().Count()} entries; scan+merge {scan.TotalMilliseconds:F0} ms " +
                $"({tar / 1048576.0 / scan.TotalSeconds:F0} MiB/s); streaming pass {files} files {bytes / 1048576.0:F0} MiB in {copy.TotalMilliseconds:F0} ms");
        }
    }

    /// <summary>Random reads in walk order (what a writer without the streaming pass would do), with and without spilling.</summary>
    public static void RandomReads(string reference)
    {
        foreach (var spill in new[] { false, true })
        {
            var sw = Stopwatch.StartNew();
            using var stack = SourceOpener.OpenStack(reference, new OpenOptions { Stack = new LayerStackOptions { SpillCompressedLayers = spill } });
            var scan = sw.Elapsed;
            sw.Restart();
            long bytes = 0;
            var buffer = new byte[256 * 1024];
            foreach (var e in ((IReadOnlyFileSystem)stack.Merged).Walk())
            {
                if (e.Type != EntryType.Regular) continue;
                for (long off = 0; off < e.Size;)
                {
                    int n = stack.Merged.Read(e, off, buffer);
                    if (n <= 0) break;
                    off += n;
                    bytes += n;
                }
            }
            Console.WriteLine($"{reference} spill={spill}: scan {scan.TotalMilliseconds:F0} ms, walk-order reads of {bytes / 1048576.0:F0} MiB in {sw.Elapsed.TotalMilliseconds:F0} ms");
        }
    }
}
