using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Decides each inode's on-disk form: compact or extended, its size, and its data layout: FLAT_INLINE
/// (tail after the inode), FLAT_PLAIN, CHUNK_BASED with a block map (copied files with holes) or with
/// chunk indexes (files the placement points at extra devices). Directories are packed into blocks here.
/// </summary>
static class ErofsInodePlanner
{
    static readonly byte[] Dot = "."u8.ToArray(), DotDot = ".."u8.ToArray();
    /// <summary>PATH_MAX - 1: the longest symlink target Linux resolves.</summary>
    const int MaxSymlinkTarget = 4095;

    public static void ChooseBuildTime(ErofsPlan plan)
    {
        var options = plan.Options;
        if (options.BuildTime is long t)
        {
            if (t < 0 || options.BuildTimeNanoseconds > 999_999_999) throw new ZarException($"EROFS build time {t}.{options.BuildTimeNanoseconds:D9} out of range");
            plan.BuildTime = t;
            plan.BuildTimeNanoseconds = options.BuildTimeNanoseconds;
            return;
        }
        var counts = new Dictionary<(long, uint), int>();
        foreach (var n in plan.Nodes)
        {
            // The superblock time is unsigned on disk: pre-1970 mtimes need extended inodes anyway.
            if (n.Entry.MtimeSeconds < 0) continue;
            var k = (n.Entry.MtimeSeconds, n.Entry.MtimeNanoseconds);
            counts[k] = counts.GetValueOrDefault(k) + 1;
        }
        if (counts.Count == 0) { plan.BuildTime = 0; plan.BuildTimeNanoseconds = 0; return; }
        var best = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).First().Key;
        (plan.BuildTime, plan.BuildTimeNanoseconds) = best;
    }

    public static void LayoutAll(ErofsPlan plan)
    {
        IErofsDataPlacement placement = plan.Devices.Count > 0 ? new DevicePlacement(plan.Devices, plan.Geometry) : CopyPlacement.Instance;
        foreach (var n in plan.Nodes) Layout(plan, n, placement);
    }

    static void Layout(ErofsPlan plan, ErofsNode n, IErofsDataPlacement placement)
    {
        int bs = plan.BlockSize;
        var e = n.Entry;
        var ino = n.Inode;
        ino.Mode = (ushort)e.UnixMode;
        ino.Uid = e.Uid;
        ino.Gid = e.Gid;
        ino.MtimeSeconds = e.MtimeSeconds;
        ino.MtimeNanoseconds = e.MtimeNanoseconds;
        ino.Nlink = n.Type == EntryType.Directory ? 2u + (uint)n.Subdirs : n.Names;
        ino.Ino = (uint)n.Order;
        ino.XattrCount = (ushort)ErofsXattrBodyHeader.CountFor(n.XattrBodySize);
        switch (n.Type)
        {
            case EntryType.Regular: n.Size = e.Size; break;
            case EntryType.Directory: n.Size = PackDirectory(plan, n); break;
            case EntryType.Symlink:
                n.LinkTarget = ZarPath.Encode(e.LinkTarget ?? "");
                if (n.LinkTarget.Length > MaxSymlinkTarget)
                    throw new ZarNotSupportedException($"{plan.Where(e)}: symlink target of {n.LinkTarget.Length} bytes is too long");
                n.Size = n.LinkTarget.Length;
                break;
            case EntryType.CharDevice or EntryType.BlockDevice:
                ino.U = ErofsFormat.EncodeDev(e.DevMajor, e.DevMinor);
                break;
        }
        if (n.Size < 0) throw new ZarFormatException($"{plan.Where(e)}: negative size");
        // Block addresses are 32-bit: a larger file could be stored neither flat nor in chunks.
        long maxSize = (long)uint.MaxValue * bs;
        if (n.Size > maxSize)
            throw new ZarNotSupportedException($"{plan.Where(e)}: size {n.Size} bytes is more than EROFS with {bs}-byte blocks can hold ({maxSize} bytes)");
        ino.Size = (ulong)n.Size;
        // Compact inodes have no mtime of their own on kernels before 6.15: they show the build time.
        ino.Extended = e.Uid > ushort.MaxValue || e.Gid > ushort.MaxValue || ino.Nlink > ushort.MaxValue
            || n.Size > uint.MaxValue || e.MtimeSeconds != plan.BuildTime || e.MtimeNanoseconds != plan.BuildTimeNanoseconds;

        if (n.Type is not (EntryType.Regular or EntryType.Directory or EntryType.Symlink) || n.Size == 0)
        {
            ino.Layout = ErofsLayout.FlatPlain;
            return;
        }
        if (n.Type == EntryType.Regular)
        {
            if (placement.TryPoint(plan.Source, e) is { } pointed)
            {
                n.PointedChunks = pointed.Chunks;
                n.ChunkBits = pointed.ChunkBits;
                n.ChunkCount = pointed.Chunks.Length;
                ino.Layout = ErofsLayout.ChunkBased;
                ino.U = ErofsChunkFormat.Of(pointed.ChunkBits, indexes: true).Value;
                plan.AnyChunked = true;
                plan.PointedFiles++;
                plan.PointedBytes += pointed.StoredBytes;
                return;
            }
            if (plan.Options.SparseFiles && TryChunked(plan, n)) return;
        }
        int tail = (int)(n.Size % bs);
        // A symlink is inline whole or not at all: kernels before 6.x reject an inline symlink with blocks.
        bool inlineFits = n.Type != EntryType.Symlink || n.Size < bs;
        if (plan.Options.InlineData && tail != 0 && inlineFits && ino.InodeSize + n.XattrBodySize + tail <= bs)
        {
            ino.Layout = ErofsLayout.FlatInline;
            n.TailLength = tail;
            n.DataBlocks = n.Size / bs;
        }
        else
        {
            ino.Layout = ErofsLayout.FlatPlain;
            n.DataBlocks = plan.Geometry.BlocksFor(n.Size);
        }
    }

    /// <summary>
    /// Copied files with holes: chunk-based with a 4-byte block map, null entries for chunks that hold no
    /// data. The chunk size minimising stored blocks plus map bytes wins, if clearly below a flat layout.
    /// </summary>
    /// <summary>The block map follows the inode in one metadata record: keep it far below what a record can hold.</summary>
    const long MaxChunkMapEntries = 1 << 24;

    static bool TryChunked(ErofsPlan plan, ErofsNode n)
    {
        long bs = plan.BlockSize;
        var extents = plan.Source.GetExtents(n.Entry);
        long dataBytes = 0;
        foreach (var x in extents) dataBytes += x.Length;
        long flatCost = plan.Geometry.BlocksFor(n.Size) * bs;
        if (dataBytes + bs >= flatCost) return false;
        long bestCost = long.MaxValue;
        int bestBits = -1;
        for (int bits = 0; bits <= ErofsChunkFormat.MaxChunkBits; bits++)
        {
            long cs = bs << bits;
            long chunks = (n.Size + cs - 1) / cs;
            if (chunks > MaxChunkMapEntries) continue;
            long stored = StoredBlocks(plan.Geometry, n.Size, extents, cs, null);
            long cost = stored * bs + chunks * ErofsBlockMapEntry.Size;
            if (cost < bestCost) { bestCost = cost; bestBits = bits; }
            if (chunks == 1) break;
        }
        if (bestBits < 0 || bestCost + bs >= flatCost) return false;
        long chunkSize = bs << bestBits;
        var storedChunks = new List<long>();
        n.DataBlocks = StoredBlocks(plan.Geometry, n.Size, extents, chunkSize, storedChunks);
        n.ChunkBits = bestBits;
        n.ChunkCount = (n.Size + chunkSize - 1) / chunkSize;
        n.StoredChunks = storedChunks.ToArray();
        n.Inode.Layout = ErofsLayout.ChunkBased;
        n.Inode.U = ErofsChunkFormat.Of(bestBits, indexes: false).Value;
        plan.AnyChunked = true;
        return true;
    }

    static long StoredBlocks(ErofsGeometry g, long size, IReadOnlyList<DataExtent> extents, long chunkSize, List<long>? chunks)
    {
        long blocks = 0, last = -1;
        foreach (var x in extents)
        {
            if (x.Length <= 0) continue;
            long first = Math.Max(x.Offset / chunkSize, last + 1), end = Math.Min(x.End, size);
            if (end <= x.Offset) continue;
            long lastChunk = (end - 1) / chunkSize;
            for (long k = first; k <= lastChunk; k++)
            {
                blocks += g.BlocksFor(Math.Min(chunkSize, size - k * chunkSize));
                chunks?.Add(k);
            }
            if (lastChunk > last) last = lastChunk;
        }
        return blocks;
    }

    /// <summary>Sorted dirents incl. "." and "..", packed into blocks; returns the directory size.</summary>
    static long PackDirectory(ErofsPlan plan, ErofsNode dir)
    {
        int bs = plan.BlockSize;
        var all = new ErofsChild[dir.Children!.Count + 2];
        all[0] = new ErofsChild(Dot, dir);
        all[1] = new ErofsChild(DotDot, dir.Parent!);
        dir.Children.CopyTo(all, 2);
        Array.Sort(all, (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        for (int i = 1; i < all.Length; i++)
            if (all[i].Name.AsSpan().SequenceEqual(all[i - 1].Name))
                throw new ZarFormatException($"{plan.Where(dir.Entry)}: duplicate name {ZarPath.Display(ZarPath.Decode(all[i].Name))}");
        var starts = new List<int> { 0 };
        int used = 0;
        for (int i = 0; i < all.Length; i++)
        {
            int need = ErofsDirent.Size + all[i].Name.Length;
            if (used + need > bs) { starts.Add(i); used = 0; }
            used += need;
        }
        dir.Dirents = all;
        dir.DirBlockStarts = starts.ToArray();
        return (long)(starts.Count - 1) * bs + used;
    }
}
