using System.Buffers.Binary;

namespace Zar.Formats.Zar;

/// <summary>One entry of the entry table, 112 bytes (docs/zar-format.md, "Entry record").</summary>
public struct ZarEntryRecord
{
    public const int Size = 112;
    public const uint NoContent = uint.MaxValue;
    public const byte FlagSparse = 1;

    public uint PathOffset, PathLength;
    public byte Type, Flags;
    public uint Mode, Uid, Gid;
    public long MtimeSeconds;
    public uint MtimeNanoseconds;
    public uint Inode;
    public ulong Size_, Begin, End;
    public uint LinkOffset, LinkLength;
    public uint DevMajor, DevMinor;
    public uint FirstChild, ChildCount;
    public uint FirstXattr, XattrCount;
    public uint FirstExtent, ExtentCount;
    public uint ContentId;
    public uint LinkCount;

    // Field table:        offset size
    //   path offset           0   4   into strings
    //   path length           4   4
    //   type                  8   1   EntryType (never Hardlink)
    //   flags                 9   1   bit 0: sparse (data in extents)
    //   reserved             10   2
    //   mode                 12   4   permission bits, 07777
    //   uid                  16   4
    //   gid                  20   4
    //   mtime seconds        24   8   signed
    //   mtime nanoseconds    32   4
    //   inode                36   4   equal for all names of one file
    //   size                 40   8   logical size
    //   begin                48   8   absolute offset of the stored data (seed: Begin)
    //   end                  56   8   end of the stored data (seed: End)
    //   link offset          64   4   symlink target in strings
    //   link length          68   4
    //   dev major            72   4
    //   dev minor            76   4
    //   first child          80   4   into children
    //   child count          84   4
    //   first xattr          88   4   into xattrs
    //   xattr count          92   4
    //   first extent         96   4   into extents (sparse files)
    //   extent count        100   4
    //   content id          104   4   into contents, 0xFFFFFFFF: none
    //   link count          108   4   names of this inode
    public readonly void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, PathOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], PathLength);
        b[8] = Type;
        b[9] = Flags;
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], Mode);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], Uid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], Gid);
        BinaryPrimitives.WriteInt64LittleEndian(b[24..], MtimeSeconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], MtimeNanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(b[36..], Inode);
        BinaryPrimitives.WriteUInt64LittleEndian(b[40..], Size_);
        BinaryPrimitives.WriteUInt64LittleEndian(b[48..], Begin);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], End);
        BinaryPrimitives.WriteUInt32LittleEndian(b[64..], LinkOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], LinkLength);
        BinaryPrimitives.WriteUInt32LittleEndian(b[72..], DevMajor);
        BinaryPrimitives.WriteUInt32LittleEndian(b[76..], DevMinor);
        BinaryPrimitives.WriteUInt32LittleEndian(b[80..], FirstChild);
        BinaryPrimitives.WriteUInt32LittleEndian(b[84..], ChildCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[88..], FirstXattr);
        BinaryPrimitives.WriteUInt32LittleEndian(b[92..], XattrCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[96..], FirstExtent);
        BinaryPrimitives.WriteUInt32LittleEndian(b[100..], ExtentCount);
        BinaryPrimitives.WriteUInt32LittleEndian(b[104..], ContentId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[108..], LinkCount);
    }

    public static ZarEntryRecord Read(ReadOnlySpan<byte> b) => new()
    {
        PathOffset = BinaryPrimitives.ReadUInt32LittleEndian(b),
        PathLength = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
        Type = b[8],
        Flags = b[9],
        Mode = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
        Uid = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
        Gid = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
        MtimeSeconds = BinaryPrimitives.ReadInt64LittleEndian(b[24..]),
        MtimeNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
        Inode = BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
        Size_ = BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
        Begin = BinaryPrimitives.ReadUInt64LittleEndian(b[48..]),
        End = BinaryPrimitives.ReadUInt64LittleEndian(b[56..]),
        LinkOffset = BinaryPrimitives.ReadUInt32LittleEndian(b[64..]),
        LinkLength = BinaryPrimitives.ReadUInt32LittleEndian(b[68..]),
        DevMajor = BinaryPrimitives.ReadUInt32LittleEndian(b[72..]),
        DevMinor = BinaryPrimitives.ReadUInt32LittleEndian(b[76..]),
        FirstChild = BinaryPrimitives.ReadUInt32LittleEndian(b[80..]),
        ChildCount = BinaryPrimitives.ReadUInt32LittleEndian(b[84..]),
        FirstXattr = BinaryPrimitives.ReadUInt32LittleEndian(b[88..]),
        XattrCount = BinaryPrimitives.ReadUInt32LittleEndian(b[92..]),
        FirstExtent = BinaryPrimitives.ReadUInt32LittleEndian(b[96..]),
        ExtentCount = BinaryPrimitives.ReadUInt32LittleEndian(b[100..]),
        ContentId = BinaryPrimitives.ReadUInt32LittleEndian(b[104..]),
        LinkCount = BinaryPrimitives.ReadUInt32LittleEndian(b[108..]),
    };
}

/// <summary>A data extent of a sparse file, 24 bytes: logical offset, length, absolute stored offset.</summary>
public readonly record struct ZarExtentRecord(ulong LogicalOffset, ulong Length, ulong StoredOffset)
{
    public const int Size = 24;

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, LogicalOffset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Length);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], StoredOffset);
    }

    public static ZarExtentRecord Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b[16..]));
}

/// <summary>An extended attribute, 16 bytes: name and value as (offset, length) into strings.</summary>
public readonly record struct ZarXattrRecord(uint NameOffset, uint NameLength, uint ValueOffset, uint ValueLength)
{
    public const int Size = 16;

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, NameOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], NameLength);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], ValueOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], ValueLength);
    }

    public static ZarXattrRecord Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt32LittleEndian(b[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[12..]));
}
