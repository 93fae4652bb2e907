using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// struct erofs_inode_compact (32 bytes) or erofs_inode_extended (64 bytes), spec §4, as the fields both
/// share. After the inode come its xattr body, then an inline tail (FLAT_INLINE) or the chunk entries
/// (CHUNK_BASED, aligned to their size).
/// </summary>
sealed class ErofsInode
{
    // Field table:      compact        extended
    //                   offset size    offset size
    //   i_format            0   2         0   2   bit 0 extended, bits 1..3 layout
    //   i_xattr_icount      2   2         2   2   xattr body = 12 + 4 * (icount - 1), or none
    //   i_mode              4   2         4   2
    //   i_nlink             6   2        44   4
    //   i_size              8   4         8   8
    //   i_mtime            12   4        32   8   compact: added to the sb epoch by kernels 6.15+
    //   i_mtime_nsec        -            40   4
    //   i_u                16   4        16   4   start block, rdev, or chunk format
    //   i_ino              20   4        20   4   informational
    //   i_uid              24   2        24   4
    //   i_gid              26   2        28   4
    //   reserved           28   4   6 (2), 48 (16)
    public bool Extended;
    public ErofsLayout Layout;
    public ushort XattrCount;
    public ushort Mode;
    public uint Nlink;
    public ulong Size;
    public uint U;
    public uint Ino;
    public uint Uid;
    public uint Gid;
    public long MtimeSeconds;
    public uint MtimeNanoseconds;
    /// <summary>Compact only: seconds added to the superblock epoch by kernels 6.15+ (0 when written by Zar).</summary>
    public uint CompactMtimeDelta;

    public int InodeSize => Extended ? ErofsFormat.ExtendedInodeSize : ErofsFormat.CompactInodeSize;

    /// <summary>Bytes of the inline xattr body: 12 + 4*(icount-1), or 0.</summary>
    public int XattrSize => ErofsXattrBodyHeader.BodySizeFor(XattrCount);

    /// <summary>Reads i_format and the fields; the caller guarantees 64 bytes or (compact) 32 bytes.</summary>
    public static ErofsInode Parse(ReadOnlySpan<byte> b, ushort format)
    {
        var i = new ErofsInode
        {
            Extended = (format & 1) != 0,
            Layout = (ErofsLayout)((format >> 1) & 7),
            XattrCount = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]),
            Mode = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]),
        };
        if (i.Extended)
        {
            i.Size = BinaryPrimitives.ReadUInt64LittleEndian(b[8..]);
            i.U = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
            i.Ino = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]);
            i.Uid = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]);
            i.Gid = BinaryPrimitives.ReadUInt32LittleEndian(b[28..]);
            i.MtimeSeconds = BinaryPrimitives.ReadInt64LittleEndian(b[32..]);
            i.MtimeNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]);
            i.Nlink = BinaryPrimitives.ReadUInt32LittleEndian(b[44..]);
        }
        else
        {
            i.Nlink = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]);
            i.Size = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
            i.CompactMtimeDelta = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
            i.U = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
            i.Ino = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]);
            i.Uid = BinaryPrimitives.ReadUInt16LittleEndian(b[24..]);
            i.Gid = BinaryPrimitives.ReadUInt16LittleEndian(b[26..]);
        }
        return i;
    }

    public void WriteTo(Span<byte> b)
    {
        b[..InodeSize].Clear();
        // Only the version bit and the layout: kernels before 6.15 reject any higher i_format bit.
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)((Extended ? 1 : 0) | ((int)Layout << 1)));
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], XattrCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], Mode);
        if (Extended)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Size);
            BinaryPrimitives.WriteUInt32LittleEndian(b[16..], U);
            BinaryPrimitives.WriteUInt32LittleEndian(b[20..], Ino);
            BinaryPrimitives.WriteUInt32LittleEndian(b[24..], Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(b[28..], Gid);
            BinaryPrimitives.WriteInt64LittleEndian(b[32..], MtimeSeconds);
            BinaryPrimitives.WriteUInt32LittleEndian(b[40..], MtimeNanoseconds);
            BinaryPrimitives.WriteUInt32LittleEndian(b[44..], Nlink);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b[6..], (ushort)Nlink);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)Size);
            BinaryPrimitives.WriteUInt32LittleEndian(b[12..], CompactMtimeDelta);
            BinaryPrimitives.WriteUInt32LittleEndian(b[16..], U);
            BinaryPrimitives.WriteUInt32LittleEndian(b[20..], Ino);
            BinaryPrimitives.WriteUInt16LittleEndian(b[24..], (ushort)Uid);
            BinaryPrimitives.WriteUInt16LittleEndian(b[26..], (ushort)Gid);
        }
    }
}
