using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// The chunk format of a CHUNK_BASED inode (spec §5.3), stored as the low 16 bits of i_u: the chunk size
/// is the block size shifted by <see cref="ChunkBits"/>, and <see cref="Indexes"/> says whether the
/// entries after the inode are 8-byte <see cref="ErofsChunkIndex"/>es or 4-byte <see cref="ErofsBlockMapEntry"/>s.
/// </summary>
public readonly record struct ErofsChunkFormat(ushort Value)
{
    // Bits:   0..4  chunk blkbits (chunk size = block size << blkbits)
    //         5     INDEXES: 8-byte chunk indexes with a device id, else a 4-byte block map
    //         6     48BIT: never written (kernels before 6.15 reject it)
    public const ushort BlockBitsMask = 0x1F;
    public const ushort IndexesBit = 0x20;
    public const int MaxChunkBits = 31;

    public int ChunkBits => Value & BlockBitsMask;
    public bool Indexes => (Value & IndexesBit) != 0;
    /// <summary>Bytes per entry after the inode: 8 with indexes, 4 for a block map.</summary>
    public int EntrySize => Indexes ? ErofsChunkIndex.Size : ErofsBlockMapEntry.Size;

    public static ErofsChunkFormat Of(int chunkBits, bool indexes)
    {
        if (chunkBits is < 0 or > MaxChunkBits) throw new ArgumentOutOfRangeException(nameof(chunkBits));
        return new((ushort)(chunkBits | (indexes ? IndexesBit : 0)));
    }
}

/// <summary>
/// One entry of a chunk-based file's 4-byte block map (chunk format without INDEXES, spec §5.3): the
/// chunk's start block on the primary device, or <see cref="ErofsFormat.NullAddress"/> for a hole.
/// </summary>
public readonly record struct ErofsBlockMapEntry(uint BlockAddress)
{
    public const int Size = 4;

    // Field table:   offset size
    //   blkaddr          0   4   start block on the primary device; 0xFFFFFFFF = hole
    public static ErofsBlockMapEntry Read(ReadOnlySpan<byte> b) => new(BinaryPrimitives.ReadUInt32LittleEndian(b));

    public void Write(Span<byte> b) => BinaryPrimitives.WriteUInt32LittleEndian(b, BlockAddress);

    public bool IsHole => BlockAddress == ErofsFormat.NullAddress;
}

/// <summary>
/// struct erofs_inode_chunk_index (8 bytes, spec §5.3): one chunk of a chunk-based file whose chunk format
/// has the INDEXES bit. A block address of <see cref="ErofsFormat.NullAddress"/> is a hole; the device id
/// picks the primary image (0) or an extra device from the device table (1..n).
/// </summary>
public readonly record struct ErofsChunkIndex(ushort StartBlockHigh, ushort DeviceId, uint BlockAddress)
{
    public const int Size = 8;

    /// <summary>A null chunk: reads as zeros.</summary>
    public static readonly ErofsChunkIndex Hole = new(0, 0, ErofsFormat.NullAddress);

    // Field table:   offset size
    //   startblk_hi      0   2   48-bit layouts only (old name: advise); 0
    //   device_id        2   2   0 = primary, k = k-th extra device; ANDed with the device id mask
    //   startblk_lo      4   4   start block within that device; 0xFFFFFFFF = hole
    public static ErofsChunkIndex Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt16LittleEndian(b),
        BinaryPrimitives.ReadUInt16LittleEndian(b[2..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[4..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b, StartBlockHigh);
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], DeviceId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], BlockAddress);
    }

    public bool IsHole => BlockAddress == ErofsFormat.NullAddress;
}
