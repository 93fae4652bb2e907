using System.Buffers.Binary;
using System.Text;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.LayerIndex;

/// <summary>How a layer blob is compressed, as recorded in its index.</summary>
public enum IndexedCompression : byte { None = 0, Gzip = 1, Zstd = 2 }

/// <summary>
/// The fixed 320-byte header at the start of a layer index (".zidx", seekable-gzip.md §10.1 "binding header"):
/// which blob it indexes (digest, size), how it is compressed, where the sections are and their CRC-32Cs.
/// A reader refuses an index whose digest or size differ from the blob's descriptor.
/// </summary>
public sealed record LayerIndexHeader
{
    public const int Size = 320;
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'Z', (byte)'I', (byte)'D', (byte)'X', 0x0D, 0x0A, 0x1A];
    public const ushort CurrentVersion = 1;
    /// <summary>Windows are each a raw deflate stream.</summary>
    public const byte WindowCodecDeflate = 1;
    /// <summary>Any offset can be reached from a nearby access point (false: a single-frame zstd layer, read from its start).</summary>
    public const uint FlagRandomAccess = 1;
    const int DigestField = 96, ToolField = 16;

    public ushort Version { get; init; } = CurrentVersion;
    public IndexedCompression Compression { get; init; }
    public byte WindowCodec { get; init; } = WindowCodecDeflate;
    public uint Flags { get; init; }
    public long BlobSize { get; init; }
    public long UncompressedSize { get; init; }
    public long SpanSize { get; init; }
    public int PointCount { get; init; }
    public int EntryCount { get; init; }
    public long PointsOffset { get; init; }
    public long WindowsOffset { get; init; }
    public long WindowsLength { get; init; }
    public long TocOffset { get; init; }
    public long TocStoredLength { get; init; }
    public long TocRawLength { get; init; }
    public uint PointsCrc { get; init; }
    public uint WindowsCrc { get; init; }
    public uint TocCrc { get; init; }
    /// <summary>"sha256:..." of the compressed blob.</summary>
    public required string BlobDigest { get; init; }
    /// <summary>"sha256:..." of the uncompressed tar.</summary>
    public required string DiffId { get; init; }
    public string Tool { get; init; } = "zar/0.1";

    public bool RandomAccess => (Flags & FlagRandomAccess) != 0;

    // Field table:             offset size
    //   magic                      0   8
    //   version                    8   2
    //   compression               10   1   0 none, 1 gzip, 2 zstd
    //   window codec              11   1   1 raw deflate
    //   flags                     12   4   bit 0: random access
    //   blob size                 16   8
    //   uncompressed size         24   8
    //   span size                 32   8
    //   point count               40   4
    //   entry count               44   4
    //   points offset             48   8   point count x 64-byte AccessPoint records
    //   windows offset            56   8
    //   windows length            64   8
    //   toc offset                72   8
    //   toc stored length         80   8   raw deflate of the TOC
    //   toc raw length            88   8
    //   points crc32c             96   4
    //   windows crc32c           100   4
    //   toc crc32c               104   4   of the stored bytes
    //   header crc32c            108   4   of bytes 0..108 and 112..320
    //   blob digest              112  96   length byte + ASCII
    //   diff id                  208  96   length byte + ASCII
    //   tool                     304  16   length byte + ASCII
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], Version);
        b[10] = (byte)Compression;
        b[11] = WindowCodec;
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], Flags);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], BlobSize);
        BinaryPrimitives.WriteInt64LittleEndian(b[24..], UncompressedSize);
        BinaryPrimitives.WriteInt64LittleEndian(b[32..], SpanSize);
        BinaryPrimitives.WriteInt32LittleEndian(b[40..], PointCount);
        BinaryPrimitives.WriteInt32LittleEndian(b[44..], EntryCount);
        BinaryPrimitives.WriteInt64LittleEndian(b[48..], PointsOffset);
        BinaryPrimitives.WriteInt64LittleEndian(b[56..], WindowsOffset);
        BinaryPrimitives.WriteInt64LittleEndian(b[64..], WindowsLength);
        BinaryPrimitives.WriteInt64LittleEndian(b[72..], TocOffset);
        BinaryPrimitives.WriteInt64LittleEndian(b[80..], TocStoredLength);
        BinaryPrimitives.WriteInt64LittleEndian(b[88..], TocRawLength);
        BinaryPrimitives.WriteUInt32LittleEndian(b[96..], PointsCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[100..], WindowsCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(b[104..], TocCrc);
        WriteString(b.Slice(112, DigestField), BlobDigest);
        WriteString(b.Slice(208, DigestField), DiffId);
        WriteString(b.Slice(304, ToolField), Tool);
        BinaryPrimitives.WriteUInt32LittleEndian(b[108..], SelfChecksum(b));
    }

    public static LayerIndexHeader Read(ReadOnlySpan<byte> b, string file)
    {
        if (b.Length < Size || !b[..8].SequenceEqual(Magic)) throw new ZarFormatException($"{file}: not a zar layer index (no zidx magic)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[108..]) != SelfChecksum(b)) throw new ZarFormatException($"{file}: layer index header checksum mismatch (corrupted)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
        if (version != CurrentVersion) throw new ZarNotSupportedException($"{file}: layer index version {version} is not supported (this Zar reads {CurrentVersion})");
        var h = new LayerIndexHeader
        {
            Version = version,
            Compression = (IndexedCompression)b[10],
            WindowCodec = b[11],
            Flags = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
            BlobSize = BinaryPrimitives.ReadInt64LittleEndian(b[16..]),
            UncompressedSize = BinaryPrimitives.ReadInt64LittleEndian(b[24..]),
            SpanSize = BinaryPrimitives.ReadInt64LittleEndian(b[32..]),
            PointCount = BinaryPrimitives.ReadInt32LittleEndian(b[40..]),
            EntryCount = BinaryPrimitives.ReadInt32LittleEndian(b[44..]),
            PointsOffset = BinaryPrimitives.ReadInt64LittleEndian(b[48..]),
            WindowsOffset = BinaryPrimitives.ReadInt64LittleEndian(b[56..]),
            WindowsLength = BinaryPrimitives.ReadInt64LittleEndian(b[64..]),
            TocOffset = BinaryPrimitives.ReadInt64LittleEndian(b[72..]),
            TocStoredLength = BinaryPrimitives.ReadInt64LittleEndian(b[80..]),
            TocRawLength = BinaryPrimitives.ReadInt64LittleEndian(b[88..]),
            PointsCrc = BinaryPrimitives.ReadUInt32LittleEndian(b[96..]),
            WindowsCrc = BinaryPrimitives.ReadUInt32LittleEndian(b[100..]),
            TocCrc = BinaryPrimitives.ReadUInt32LittleEndian(b[104..]),
            BlobDigest = ReadString(b.Slice(112, DigestField)),
            DiffId = ReadString(b.Slice(208, DigestField)),
            Tool = ReadString(b.Slice(304, ToolField)),
        };
        if (h.Compression > IndexedCompression.Zstd || h.WindowCodec != WindowCodecDeflate || h.PointCount < 0 || h.EntryCount < 0
            || h.BlobSize < 0 || h.UncompressedSize < 0)
            throw new ZarFormatException($"{file}: layer index header has impossible values (corrupted)");
        return h;
    }

    static uint SelfChecksum(ReadOnlySpan<byte> b) => Crc32C.Compute(b[112..Size], Crc32C.Compute(b[..108]));

    static void WriteString(Span<byte> field, string value)
    {
        int n = Encoding.ASCII.GetByteCount(value);
        if (n > field.Length - 1) throw new ZarException($"layer index: '{value}' does not fit its {field.Length - 1}-byte field");
        field[0] = (byte)n;
        Encoding.ASCII.GetBytes(value, field[1..]);
    }

    static string ReadString(ReadOnlySpan<byte> field) => Encoding.ASCII.GetString(field.Slice(1, Math.Min(field[0], field.Length - 1)));
}
