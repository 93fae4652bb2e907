using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// One inode of the image being written (all names of a hardlinked file share one), with the decisions
/// each writer stage takes about it: tree position, xattr body, layout, place, data blocks.
/// </summary>
sealed class ErofsNode(Entry entry)
{
    public readonly Entry Entry = entry;
    public List<ErofsChild>? Children;
    public ErofsNode? Parent;
    public uint Names;
    public int Subdirs;
    /// <summary>Breadth-first position; the inode's i_ino.</summary>
    public int Order = -1;

    // Xattrs (ErofsSharedXattrs).
    public List<StoredXattr> InlineXattrs = [];
    public List<int> SharedXattrIds = [];
    public int XattrBodySize;

    // Layout (ErofsInodePlanner).
    public ErofsInode Inode = new();
    public long Size;
    public int TailLength;
    /// <summary>Blocks of this inode's data in the image's data area.</summary>
    public long DataBlocks;
    public byte[]? LinkTarget;
    public ErofsChild[]? Dirents;
    public int[]? DirBlockStarts;
    public int ChunkBits;
    public long ChunkCount;
    /// <summary>Copied chunk-based files (holes): the chunks that hold data, stored in order.</summary>
    public long[]? StoredChunks;
    /// <summary>Files pointed at extra devices: their chunk indexes (nothing stored in the image).</summary>
    public ErofsChunkIndex[]? PointedChunks;

    // Place (ErofsInodePacker) and data (ErofsBlockAllocator).
    public long Pos;
    public long StartBlock;

    public EntryType Type => Entry.Type;
    public long Nid => Pos / 32;

    /// <summary>Bytes from the inode's start: inode, xattr body, then the inline tail or the chunk entries.</summary>
    public int RecordLength
    {
        get
        {
            int head = Inode.InodeSize + XattrBodySize;
            if (Inode.Layout != ErofsLayout.ChunkBased) return head + TailLength;
            int unit = PointedChunks != null ? ErofsChunkIndex.Size : ErofsBlockMapEntry.Size;
            return ChunkEntriesOffset + (int)(ChunkCount * unit);
        }
    }

    /// <summary>Where the chunk entries start in the record: after the xattrs, aligned to their size (records start 32-aligned).</summary>
    public int ChunkEntriesOffset
    {
        get
        {
            int head = Inode.InodeSize + XattrBodySize;
            int unit = PointedChunks != null ? ErofsChunkIndex.Size : ErofsBlockMapEntry.Size;
            return (head + unit - 1) & ~(unit - 1);
        }
    }
}

/// <summary>A name in a directory: the name bytes and the inode it refers to.</summary>
readonly record struct ErofsChild(byte[] Name, ErofsNode Node);
