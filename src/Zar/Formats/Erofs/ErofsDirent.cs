using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// struct erofs_dirent (12 bytes, spec §6.1). A directory block holds the dirents first, then their
/// names back to back: dirent 0's <see cref="NameOffset"/> is 12 × (dirents in the block), and a name
/// ends where the next one starts (the last at the first NUL or the end of the block).
/// </summary>
public readonly record struct ErofsDirent(ulong Nid, ushort NameOffset, byte FileType)
{
    public const int Size = 12;

    // Field table:   offset size
    //   nid              0   8   target inode
    //   nameoff          8   2   where the name starts, within this directory block
    //   file_type       10   1   see FileTypeOf: 0 unknown, 1 reg, 2 dir, 3 chr, 4 blk, 5 fifo, 6 sock, 7 symlink
    //   reserved        11   1   0
    public static ErofsDirent Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b),
        BinaryPrimitives.ReadUInt16LittleEndian(b[8..]),
        b[10]);

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, Nid);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], NameOffset);
        b[10] = FileType;
        b[11] = 0;
    }

    /// <summary>The file_type value for an entry type (the kernel reports it as d_type; fsck checks it against i_mode).</summary>
    public static byte FileTypeOf(Model.EntryType type) => type switch
    {
        Model.EntryType.Regular => 1,
        Model.EntryType.Directory => 2,
        Model.EntryType.CharDevice => 3,
        Model.EntryType.BlockDevice => 4,
        Model.EntryType.Fifo => 5,
        Model.EntryType.Socket => 6,
        Model.EntryType.Symlink => 7,
        _ => 0,
    };
}
