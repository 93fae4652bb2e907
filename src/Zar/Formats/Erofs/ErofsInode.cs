using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>An on-disk inode, compact (32 bytes) or extended (64 bytes), as the fields both share.</summary>
sealed class ErofsInode
{
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
    public int XattrSize => XattrCount == 0 ? 0 : 12 + 4 * (XattrCount - 1);

    public static int XattrCountFor(int xattrBodySize) => xattrBodySize == 0 ? 0 : (xattrBodySize - 12) / 4 + 1;

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
