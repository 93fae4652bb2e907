using System.Diagnostics;
using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources;
using Zar.Stores;

namespace Zar.Bench;

/// <summary>
/// `zar flist` of an image to a dir store against the bound of its own pipeline (BLAKE2b + snappy + AES-GCM +
/// BLAKE2b of the same chunks, in memory, on every core) and against the everyday alternative (`tar -c | zstd -T0`
/// of the tree); a second run over the same store, which must upload nothing; and reading back
/// (`zar extract x.fl`) against `tar -x`.
/// </summary>
public static class FlistBench
{
    public static void Run(string imageRef, string workDir, int runs = 2)
    {
        Directory.CreateDirectory(workDir);
        var store = Path.Combine(workDir, "flist-store");
        var fl = Path.Combine(workDir, "bench.fl");
        var tree = Path.Combine(workDir, "flist-tree");
        using var fs = SourceOpener.OpenFileSystem(imageRef);
        var files = fs.Walk().Where(e => e.IsRegular).ToList();
        long bytes = files.Sum(f => f.Size);
        Console.WriteLine($"flist {imageRef}: {files.Count} files, {bytes / 1048576.0:F1} MiB, {Environment.ProcessorCount} cores");

        // What reading the tree alone costs (the writer reads it on one thread while the workers encode).
        var readBuffer = new byte[ChunkCodec.ChunkSize];
        double readOnly = Timing.Best(runs, () => { }, () =>
        {
            foreach (var f in files)
                for (long o = 0; o < f.Size; o += ChunkCodec.ChunkSize)
                    fs.ReadFully(f, o, readBuffer.AsSpan(0, (int)Math.Min(ChunkCodec.ChunkSize, f.Size - o)));
        });
        Console.WriteLine($"  reading the tree alone: {readOnly:F2} s");

        // The bound: every chunk already in memory, encoded on all cores, nothing read or written.
        var chunks = new List<byte[]>();
        foreach (var f in files)
            for (long o = 0; o < f.Size; o += ChunkCodec.ChunkSize)
            {
                var c = new byte[Math.Min(ChunkCodec.ChunkSize, f.Size - o)];
                fs.ReadFully(f, o, c);
                chunks.Add(c);
            }
        long blobBytes = 0;
        double bound = Timing.Best(runs, () => blobBytes = 0, () =>
            Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                c => Interlocked.Add(ref blobBytes, ChunkCodec.Encode(c).Blob.Length)));
        chunks = null;
        Console.WriteLine($"  bound (encode in memory): {bound:F2} s, {bytes / 1048576.0 / bound:F0} MiB/s, blobs {blobBytes / 1048576.0:F1} MiB");

        FlistWriteResult? first = null;
        double write = Timing.Best(runs, () => Clean(store, fl), () =>
        {
            using var router = ContentRouter.Open(["dir://" + store]);
            first = FlistWriter.Write(fs, fl, router);
        });
        Console.WriteLine($"  zar flist to dir://: {write:F2} s, {bytes / 1048576.0 / write:F0} MiB/s ({first!.Chunks} chunks, {first.UniqueBlobs} blobs, " +
            $"{first.BlobBytesUploaded / 1048576.0:F1} MiB stored); flist / bound = {write / bound:F2} (target <= 1.30)");

        FlistWriteResult? second = null;
        double again = Timing.Best(1, () => { }, () =>
        {
            using var router = ContentRouter.Open(["dir://" + store]);
            second = FlistWriter.Write(fs, Path.Combine(workDir, "again.fl"), router);
        });
        Console.WriteLine($"  second run over the same store: {again:F2} s, {second!.BlobsUploaded} uploaded, {second.BlobsSkipped} skipped; " +
            $"second run / bound = {again / bound:F2} (the pipeline without store writes)" +
            (second.BlobsUploaded == 0 ? "" : "  ** EXPECTED NOTHING UPLOADED **"));

        double extract = Timing.Best(runs, () => Clean(tree), () =>
        {
            using var image = FlistImage.Open(fl);
            Extractor.Extract(image, tree);
        });
        Console.WriteLine($"  zar extract x.fl: {extract:F2} s, {bytes / 1048576.0 / extract:F0} MiB/s");

        if (!Timing.Has("tar") || !Timing.Has("zstd"))
        {
            Console.WriteLine("  peers skipped (need tar and zstd)");
            return;
        }
        var tar = Path.Combine(workDir, "tree.tar");
        var zst = Path.Combine(workDir, "tree.tar.zst");
        double tarZstd = Timing.Best(runs, () => File.Delete(zst), () => Timing.Run("bash", "-c", $"tar -cf - -C '{tree}' . | zstd -T0 -q -o '{zst}'"));
        Console.WriteLine($"  tar -c | zstd -T0: {tarZstd:F2} s ({new FileInfo(zst).Length / 1048576.0:F1} MiB); zar flist / tar|zstd = {write / tarZstd:F2}");
        Timing.Run("tar", "-cf", tar, "-C", tree, ".");
        var untar = Path.Combine(workDir, "untar");
        double tarX = Timing.Best(runs, () => { Clean(untar); Directory.CreateDirectory(untar); }, () => Timing.Run("tar", "-xf", tar, "-C", untar));
        double zstdX = Timing.Best(runs, () => { Clean(untar); Directory.CreateDirectory(untar); }, () => Timing.Run("bash", "-c", $"zstd -dc '{zst}' | tar -xf - -C '{untar}'"));
        Console.WriteLine($"  tar -x: {tarX:F2} s; zstd -d | tar -x: {zstdX:F2} s; zar extract x.fl / tar -x = {extract / tarX:F2}, / zstd|tar -x = {extract / zstdX:F2}");
        Clean(untar, tree);
    }

    static void Clean(params string[] paths)
    {
        foreach (var p in paths)
        {
            if (Directory.Exists(p)) Directory.Delete(p, recursive: true);
            else if (File.Exists(p)) File.Delete(p);
        }
    }
}
