using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// struct erofs_xattr_ibody_header (12 bytes, spec §8.1): the head of an inode's inline xattr body, which
/// follows the inode. After it come <see cref="SharedCount"/> le32 ids of shared xattrs (entry at
/// xattr_blkaddr × bs + id × 4), then inline <see cref="ErofsXattrEntry"/>s to the end of the body, whose
/// size is 12 + 4 × (i_xattr_icount − 1).
/// </summary>
public readonly record struct ErofsXattrBodyHeader(uint NameFilter, byte SharedCount)
{
    public const int Size = 12;
    public const int SharedIdSize = 4;

    // Field table:   offset size
    //   h_name_filter    0   4   bloom filter, only read with COMPAT_XATTR_FILTER; 0
    //   h_shared_count   4   1   shared xattr ids following the header
    //   reserved         5   7   0
    public static ErofsXattrBodyHeader Read(ReadOnlySpan<byte> b) => new(BinaryPrimitives.ReadUInt32LittleEndian(b), b[4]);

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, NameFilter);
        b[4] = SharedCount;
    }

    /// <summary>The inode's i_xattr_icount for a body of <paramref name="bodySize"/> bytes (0: no body).</summary>
    public static int CountFor(int bodySize) => bodySize == 0 ? 0 : (bodySize - Size) / 4 + 1;

    /// <summary>The body size that i_xattr_icount <paramref name="count"/> gives (0: no body).</summary>
    public static int BodySizeFor(int count) => count == 0 ? 0 : Size + 4 * (count - 1);
}

/// <summary>
/// struct erofs_xattr_entry (4 bytes + name suffix + value, padded to 4 bytes; spec §8.1): one xattr,
/// inline in an inode's body or in the shared xattr area. The name is a predefined prefix
/// (<see cref="NameIndex"/>, see <see cref="ErofsXattrNames"/>) plus the stored suffix.
/// </summary>
public readonly record struct ErofsXattrEntry(byte NameLength, byte NameIndex, ushort ValueSize)
{
    public const int HeaderSize = 4;

    // Field table:   offset size
    //   e_name_len       0   1   bytes of the name suffix
    //   e_name_index     1   1   prefix index (bit 7: long prefix, not written)
    //   e_value_size     2   2   value bytes
    //   name             4   e_name_len
    //   value            4 + e_name_len   e_value_size, then zeros to a multiple of 4
    public static ErofsXattrEntry Read(ReadOnlySpan<byte> b) => new(b[0], b[1], BinaryPrimitives.ReadUInt16LittleEndian(b[2..]));

    /// <summary>The whole entry's size, padding included.</summary>
    public int EntrySize => SizeOf(NameLength, ValueSize);

    public static int SizeOf(int suffixLength, int valueLength) => (HeaderSize + suffixLength + valueLength + 3) & ~3;

    /// <summary>Writes a whole padded entry; returns its size.</summary>
    public static int Write(Span<byte> b, byte nameIndex, ReadOnlySpan<byte> suffix, ReadOnlySpan<byte> value)
    {
        int size = SizeOf(suffix.Length, value.Length);
        b[..size].Clear();
        b[0] = (byte)suffix.Length;
        b[1] = nameIndex;
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], (ushort)value.Length);
        suffix.CopyTo(b[HeaderSize..]);
        value.CopyTo(b[(HeaderSize + suffix.Length)..]);
        return size;
    }

    /// <summary>The name suffix of an entry read from <paramref name="entry"/>.</summary>
    public ReadOnlySpan<byte> Suffix(ReadOnlySpan<byte> entry) => entry.Slice(HeaderSize, NameLength);

    /// <summary>The value of an entry read from <paramref name="entry"/>.</summary>
    public ReadOnlySpan<byte> Value(ReadOnlySpan<byte> entry) => entry.Slice(HeaderSize + NameLength, ValueSize);
}
