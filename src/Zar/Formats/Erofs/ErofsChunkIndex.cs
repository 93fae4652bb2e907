using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// struct erofs_inode_chunk_index (8 bytes, spec §8): one chunk of a chunk-based file whose chunk format
/// has the INDEXES bit. A block address of <see cref="ErofsFormat.NullAddress"/> is a hole; the device id
/// picks the primary image (0) or an extra device from the device table (1..n).
/// </summary>
public readonly record struct ErofsChunkIndex(ushort StartBlockHigh, ushort DeviceId, uint BlockAddress)
{
    public const int Size = 8;

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
}
