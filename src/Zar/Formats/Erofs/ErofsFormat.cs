namespace Zar.Formats.Erofs;

/// <summary>Constants of the EROFS on-disk format (little-endian throughout; see the erofs spec).</summary>
static class ErofsFormat
{
    public const uint Magic = 0xE0F5E1E2;
    public const int SuperblockOffset = 1024;
    public const int SuperblockSize = 128;
    /// <summary>With meta_blkaddr 0 the first slot after the superblock (byte 1152).</summary>
    public const int FirstNid = 36;
    public const int CompactInodeSize = 32;
    public const int ExtendedInodeSize = 64;
    public const int MaxNameLength = 255;
    public const uint NullAddress = 0xFFFFFFFF;
    /// <summary>Block sizes the kernel mounts uncompressed (9..PAGE_SHIFT, kernel 6.4+ below the page size).</summary>
    public const int MinBlockSizeBits = 9, MaxBlockSizeBits = 12;

    public const uint CompatSbChecksum = 0x1;
    public const uint CompatMtime = 0x2;

    public const uint IncompatZeroPadding = 0x1;
    public const uint IncompatComprCfgs = 0x2;
    public const uint IncompatChunkedFile = 0x4;
    public const uint IncompatDeviceTable = 0x8;
    public const uint IncompatZtailPacking = 0x10;
    public const uint IncompatFragments = 0x20;
    public const uint IncompatXattrPrefixes = 0x40;
    public const uint Incompat48Bit = 0x80;
    public const uint IncompatMetabox = 0x100;
    public const uint IncompatCompression = IncompatZeroPadding | IncompatComprCfgs | IncompatZtailPacking | IncompatFragments;

    /// <summary>Linux "new" dev_t encoding used in i_u of device inodes.</summary>
    public static uint EncodeDev(uint major, uint minor) => (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12);
    public static (uint Major, uint Minor) DecodeDev(uint dev) => ((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00));
}

/// <summary>Data layouts of i_format bits 1..3.</summary>
enum ErofsLayout : byte
{
    FlatPlain = 0,
    CompressedFull = 1,
    FlatInline = 2,
    CompressedCompact = 3,
    ChunkBased = 4,
}
