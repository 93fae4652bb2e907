using System.Buffers.Binary;
using Zar.Model;

namespace Zar.Formats.Zar;

/// <summary>A section of the metadata: offset relative to the metadata start, and a count of records (or bytes for strings).</summary>
public readonly record struct ZarSection(ulong Offset, ulong Count);

/// <summary>The 128-byte header at the start of the metadata region (docs/zar-format.md, "Metadata header").</summary>
public sealed record ZarMetadataHeader
{
    public const int Size = 160;
    public const uint ChecksumPageSize = 4096;
    /// <summary>Content digests are XXH3-128, stored as its canonical 16-byte big-endian form.</summary>
    public const int DigestSize = 16;
    public static ReadOnlySpan<byte> Magic => "ZARMETA\0"u8;

    public ZarSection Entries { get; init; }
    public ZarSection Children { get; init; }
    public ZarSection Extents { get; init; }
    public ZarSection Xattrs { get; init; }
    public ZarSection Contents { get; init; }
    public ZarSection Strings { get; init; }
    /// <summary>Path hash index: u32 entry indexes in a power-of-two open-addressing table (0xFFFFFFFF = empty).</summary>
    public ZarSection PathIndex { get; init; }
    /// <summary>Offset of the page-checksum table; it covers metadata bytes [0, this).</summary>
    public ulong ChecksumTableOffset { get; init; }

    // Field table:           offset size
    //   magic                    0   8
    //   header size              8   4   (128)
    //   checksum page size      12   4   (4096)
    //   entries offset, count   16  8+8  (records of 112 bytes)
    //   children offset, count  32  8+8  (u32 entry indexes)
    //   extents offset, count   48  8+8  (records of 24 bytes)
    //   xattrs offset, count    64  8+8  (records of 16 bytes)
    //   contents offset, count  80  8+8  (XXH3-128 digests, 16 bytes)
    //   strings offset, length  96  8+8  (bytes)
    //   path index offset, count 112 8+8 (u32 slots, power of two, 0xFFFFFFFF empty)
    //   checksum table offset  128   8
    //   reserved               136  24
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], ChecksumPageSize);
        WriteSection(b[16..], Entries);
        WriteSection(b[32..], Children);
        WriteSection(b[48..], Extents);
        WriteSection(b[64..], Xattrs);
        WriteSection(b[80..], Contents);
        WriteSection(b[96..], Strings);
        WriteSection(b[112..], PathIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(b[128..], ChecksumTableOffset);
    }

    static void WriteSection(Span<byte> b, ZarSection s)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, s.Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], s.Count);
    }

    static ZarSection ReadSection(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]));

    public static ZarMetadataHeader Read(ReadOnlySpan<byte> b, ulong metadataLength, string file)
    {
        if (!b[..8].SequenceEqual(Magic)) throw new ZarFormatException($"{file}: zar metadata header magic missing (corrupted)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[8..]) != Size || BinaryPrimitives.ReadUInt32LittleEndian(b[12..]) != ChecksumPageSize)
            throw new ZarFormatException($"{file}: zar metadata header has unexpected sizes (corrupted)");
        var h = new ZarMetadataHeader
        {
            Entries = ReadSection(b[16..]),
            Children = ReadSection(b[32..]),
            Extents = ReadSection(b[48..]),
            Xattrs = ReadSection(b[64..]),
            Contents = ReadSection(b[80..]),
            Strings = ReadSection(b[96..]),
            PathIndex = ReadSection(b[112..]),
            ChecksumTableOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[128..]),
        };
        Check(h.Entries, ZarEntryRecord.Size, "entries");
        Check(h.Children, 4, "children");
        Check(h.Extents, ZarExtentRecord.Size, "extents");
        Check(h.Xattrs, ZarXattrRecord.Size, "xattrs");
        Check(h.Contents, DigestSize, "contents");
        Check(h.Strings, 1, "strings");
        Check(h.PathIndex, 4, "path index");
        if (h.PathIndex.Count < h.Entries.Count || !ulong.IsPow2(h.PathIndex.Count))
            throw new ZarFormatException($"{file}: zar path index has a bad size (corrupted)");
        if (h.ChecksumTableOffset > metadataLength) throw new ZarFormatException($"{file}: zar checksum table out of bounds (corrupted)");
        return h;

        void Check(ZarSection s, ulong recordSize, string name)
        {
            if (s.Count > metadataLength / recordSize || s.Offset > metadataLength || s.Offset + s.Count * recordSize > h.ChecksumTableOffset)
                throw new ZarFormatException($"{file}: zar {name} section out of bounds (corrupted)");
        }
    }
}
