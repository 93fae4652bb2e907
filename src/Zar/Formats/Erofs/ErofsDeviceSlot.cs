using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// struct erofs_deviceslot (128 bytes, spec §2.3): one extra device of the device table, which starts at
/// byte devt_slotoff × 128; slot i describes device id i + 1. With <c>mount -o device=</c> a chunk on
/// device k is read from the k-th given device at its block address; without (flat mode, kernel 6.4+) it
/// is read from the image itself at <see cref="MappedBlockAddress"/> + its block address.
/// </summary>
public readonly record struct ErofsDeviceSlot(byte[] Tag, uint Blocks, uint MappedBlockAddress)
{
    public const int Size = 128;
    public const int TagSize = 64;

    // Field table:   offset size
    //   tag              0  64   device identifier (a blob id); ignored with device= and in flat mode
    //   blocks_lo       64   4   size of the device in blocks
    //   uniaddr_lo      68   4   mapped_blkaddr: where the device starts in the flat address space
    //   blocks_hi       72   2   48-bit layouts only; 0
    //   uniaddr_hi      74   2   48-bit layouts only; 0
    //   reserved        76  52   0
    public static ErofsDeviceSlot Read(ReadOnlySpan<byte> b)
    {
        var tag = b[..TagSize];
        int nul = tag.IndexOf((byte)0);
        return new ErofsDeviceSlot(tag[..(nul < 0 ? TagSize : nul)].ToArray(),
            BinaryPrimitives.ReadUInt32LittleEndian(b[64..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[68..]));
    }

    public void Write(Span<byte> b)
    {
        if (Tag.Length > TagSize) throw new ArgumentException($"EROFS device tag longer than {TagSize} bytes");
        b[..Size].Clear();
        Tag.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[64..], Blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(b[68..], MappedBlockAddress);
    }

    public string TagText => Model.ZarPath.Decode(Tag);
}
