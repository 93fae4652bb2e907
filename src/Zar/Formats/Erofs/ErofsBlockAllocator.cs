using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Numbers the blocks after the metadata: the shared xattr area, then each inode's data blocks in inode
/// order, then embedded devices (each at its alignment); the image ends at a multiple of 4096 bytes.
/// External devices are mapped after the image's end, as mkfs.erofs does.
/// </summary>
static class ErofsBlockAllocator
{
    /// <summary>Images end on a 4096-byte boundary: loop devices and the kernel's superblock read work in 4 KiB pages.</summary>
    const int ImageAlignment = 4096;

    public static void Allocate(ErofsPlan plan)
    {
        var g = plan.Geometry;
        plan.XattrBlock = plan.SharedXattrBytes == 0 ? 0 : plan.MetaBlocks;
        plan.XattrBlocks = g.BlocksFor(plan.SharedXattrBytes);
        plan.DataStart = plan.MetaBlocks + plan.XattrBlocks;
        long next = plan.DataStart;
        foreach (var n in plan.Nodes)
        {
            if (n.DataBlocks == 0)
            {
                if (n.Inode.Layout == ErofsLayout.FlatInline) n.Inode.U = ErofsFormat.NullAddress;
                continue;
            }
            n.StartBlock = next;
            next += n.DataBlocks;
            if (n.Inode.Layout != ErofsLayout.ChunkBased) n.Inode.U = (uint)Math.Min(n.StartBlock, uint.MaxValue);
        }
        plan.DataEnd = next;
        foreach (var d in plan.Devices.Devices)
        {
            if (!d.Embedded) continue;
            long start = (g.Bytes(next) + d.Alignment - 1) / d.Alignment * d.Alignment;
            d.MappedBlock = start >> g.BlockSizeBits;
            next = d.MappedBlock + d.Blocks;
        }
        long imageBytes = (g.Bytes(next) + ImageAlignment - 1) / ImageAlignment * ImageAlignment;
        plan.ImageBlocks = imageBytes >> g.BlockSizeBits;
        long external = plan.ImageBlocks;
        foreach (var d in plan.Devices.Devices)
        {
            if (d.Embedded) continue;
            d.MappedBlock = external;
            external += d.Blocks;
        }
        if (plan.ImageBlocks >= uint.MaxValue || external >= uint.MaxValue)
            throw new ZarNotSupportedException($"{plan.Source.Description}: too large for an EROFS image with {g.BlockSize}-byte blocks");
    }
}
