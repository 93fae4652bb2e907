using System.Buffers.Binary;
using System.Numerics;

namespace Zar.IO;

/// <summary>CRC-32C (Castagnoli) over spans, using the CPU's crc32 instruction through BitOperations.</summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data, uint crc = 0)
    {
        crc = ~crc;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++)
            crc = BitOperations.Crc32C(crc, data[i]);
        return ~crc;
    }
}
