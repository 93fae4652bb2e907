using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Gives every inode its place (and so its nid) in the metadata area after the superblock and the device
/// table. Best fit: every inode record (inode, xattrs, inline tail) stays inside one block, so the free
/// rest of each block is kept in buckets by size and filled by later, smaller records.
/// </summary>
static class ErofsInodePacker
{
    public static void Place(ErofsPlan plan)
    {
        var g = plan.Geometry;
        int bs = g.BlockSize;
        int units = bs / 32;
        var free = new Stack<long>[units + 1];
        for (int i = 0; i <= units; i++) free[i] = new Stack<long>();
        void AddFree(long pos, long len) { if (len >= 32) free[len / 32].Push(pos); }

        // Blocks before the superblock's are the boot area; the device table follows the superblock.
        long reservedEnd = ErofsFormat.SuperblockOffset + ErofsFormat.SuperblockSize + plan.Devices.TableBytes;
        long frontier = g.Bytes(g.BlocksFor(reservedEnd));
        AddFree(reservedEnd, frontier - reservedEnd);

        foreach (var n in plan.Nodes)
        {
            long need = (n.RecordLength + 31) & ~31L;
            if (need > bs)
            {
                // Only chunk tables (or huge xattr bodies) get here; they may span blocks.
                n.Pos = frontier;
                long end = frontier + need;
                frontier = g.Bytes(g.BlocksFor(end));
                AddFree(end, frontier - end);
                continue;
            }
            int u = (int)(need / 32);
            int found = -1;
            for (int k = u; k <= units; k++) if (free[k].Count > 0) { found = k; break; }
            long pos;
            if (found < 0) { pos = frontier; frontier += bs; found = units; }
            else pos = free[found].Pop();
            n.Pos = pos;
            AddFree(pos + need, found * 32L - need);
        }
        if (plan.Root.Nid > ushort.MaxValue) throw new ZarException("EROFS root inode beyond nid 65535");
        plan.MetaBlocks = frontier / bs;
    }
}
