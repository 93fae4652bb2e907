using System.Buffers.Binary;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Zar;

/// <summary>
/// The fixed 64-byte footer at the very end of a zar image (docs/zar-format.md, "Footer").
/// Its last 8 bytes are the metadata offset, as in the seed format.
/// </summary>
public sealed record ZarFooter
{
    public const int Size = 64;
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'Z', (byte)'A', (byte)'R', 0x0D, 0x0A, 0x1A, 0x0A];
    public const ushort CurrentMajor = 1;
    public const ushort CurrentMinor = 0;
    public const uint FlagPageAligned = 1;

    public ushort VersionMajor { get; init; } = CurrentMajor;
    public ushort VersionMinor { get; init; } = CurrentMinor;
    public uint Flags { get; init; }
    public ulong MetadataLength { get; init; }
    public ulong EntryCount { get; init; }
    public ulong FileLength { get; init; }
    /// <summary>CRC-32C of the metadata's page-checksum table, which covers every other metadata byte.</summary>
    public uint MetadataChecksum { get; init; }
    public ulong MetadataOffset { get; init; }

    public bool PageAligned => (Flags & FlagPageAligned) != 0;

    // Field table:        offset size
    //   magic                 0   8
    //   version major         8   2
    //   version minor        10   2
    //   flags                12   4
    //   metadata length      16   8
    //   entry count          24   8
    //   file length          32   8
    //   metadata checksum    40   4
    //   footer checksum      44   4   CRC-32C of bytes 0..44 and 48..64
    //   reserved             48   8
    //   metadata offset      56   8
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], VersionMajor);
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], VersionMinor);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], MetadataLength);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], EntryCount);
        BinaryPrimitives.WriteUInt64LittleEndian(b[32..], FileLength);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], MetadataChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(b[56..], MetadataOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], SelfChecksum(b));
    }

    static uint SelfChecksum(ReadOnlySpan<byte> b) => Crc32C.Compute(b[48..Size], Crc32C.Compute(b[..44]));

    public static ZarFooter Read(ReadOnlySpan<byte> b, string file)
    {
        if (b.Length < Size) throw new ZarFormatException($"{file}: too small to be a zar image ({b.Length} bytes)");
        if (!b[..8].SequenceEqual(Magic)) throw new ZarFormatException($"{file}: not a zar image (no zar footer magic at the end; truncated or another format)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[44..]) != SelfChecksum(b))
            throw new ZarFormatException($"{file}: zar footer checksum mismatch (corrupted)");
        var f = new ZarFooter
        {
            VersionMajor = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]),
            VersionMinor = BinaryPrimitives.ReadUInt16LittleEndian(b[10..]),
            Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
            MetadataLength = BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
            EntryCount = BinaryPrimitives.ReadUInt64LittleEndian(b[24..]),
            FileLength = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
            MetadataChecksum = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
            MetadataOffset = BinaryPrimitives.ReadUInt64LittleEndian(b[56..]),
        };
        if (f.VersionMajor != CurrentMajor)
            throw new ZarNotSupportedException($"{file}: zar format version {f.VersionMajor}.{f.VersionMinor} is not supported (this Zar reads {CurrentMajor}.x)");
        return f;
    }
}
