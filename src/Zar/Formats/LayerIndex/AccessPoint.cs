using System.Buffers.Binary;

namespace Zar.Formats.LayerIndex;

/// <summary>What an access point is: where decompression can start without earlier bytes (seekable-gzip.md §10.1).</summary>
public enum AccessPointKind : byte
{
    /// <summary>A deflate block boundary inside a gzip member: needs the bit offset and the 32 KiB window.</summary>
    DeflateBlock = 0,
    /// <summary>The first deflate block of a gzip member (after its header): no window.</summary>
    GzipMemberStart = 1,
    /// <summary>The start of a zstd frame (<c>in</c> is the frame magic).</summary>
    ZstdFrameStart = 2,
    /// <summary>An uncompressed layer: blob offset = tar offset, points only delimit checked spans.</summary>
    Stored = 3,
}

/// <summary>
/// One 64-byte access point record. Span i is the compressed bytes [<see cref="Start"/>, next point's
/// <see cref="In"/>) (to the blob's end for the last point): every byte its decompression consumes, including
/// the byte a next point at a bit offset shares, so <see cref="SpanDigest"/> covers all of it.
/// </summary>
public readonly record struct AccessPoint(long Out, long In, byte Bits, AccessPointKind Kind, int WindowLength,
    long WindowOffset, int WindowStoredLength, byte[] SpanDigest)
{
    public const int Size = 64;

    /// <summary>First compressed byte the span needs: the byte holding its first <see cref="Bits"/> bits.</summary>
    public long Start => Bits != 0 ? In - 1 : In;

    // Field table:           offset size
    //   out                      0   8   uncompressed offset
    //   in                       8   8   compressed offset of the first full byte
    //   bits                    16   1   0-7 bits of byte in-1 that belong to this point
    //   kind                    17   1   AccessPointKind
    //   window length           18   2   0..32768 uncompressed bytes of history
    //   window stored length    20   4   bytes in the window area
    //   window offset           24   8   from the start of the window area
    //   span digest             32  32   sha256 of the span's compressed bytes
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteInt64LittleEndian(b, Out);
        BinaryPrimitives.WriteInt64LittleEndian(b[8..], In);
        b[16] = Bits;
        b[17] = (byte)Kind;
        BinaryPrimitives.WriteUInt16LittleEndian(b[18..], (ushort)(WindowLength == 32768 ? 0xFFFF : WindowLength));
        BinaryPrimitives.WriteInt32LittleEndian(b[20..], WindowStoredLength);
        BinaryPrimitives.WriteInt64LittleEndian(b[24..], WindowOffset);
        SpanDigest.AsSpan(0, 32).CopyTo(b[32..]);
    }

    public static AccessPoint Read(ReadOnlySpan<byte> b)
    {
        int window = BinaryPrimitives.ReadUInt16LittleEndian(b[18..]);
        return new AccessPoint(
            BinaryPrimitives.ReadInt64LittleEndian(b),
            BinaryPrimitives.ReadInt64LittleEndian(b[8..]),
            b[16],
            (AccessPointKind)b[17],
            window == 0xFFFF ? 32768 : window,
            BinaryPrimitives.ReadInt64LittleEndian(b[24..]),
            BinaryPrimitives.ReadInt32LittleEndian(b[20..]),
            b.Slice(32, 32).ToArray());
    }
}
