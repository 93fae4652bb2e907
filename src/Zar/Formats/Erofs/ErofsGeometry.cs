using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>The block size of an image being written, and the arithmetic that depends on it.</summary>
readonly record struct ErofsGeometry(int BlockSizeBits)
{
    public int BlockSize => 1 << BlockSizeBits;

    /// <summary>The block that holds the superblock (byte 1024): block 0 for 2048 and 4096, 1 for 1024, 2 for 512.</summary>
    public long SuperblockBlock => ErofsFormat.SuperblockOffset >> BlockSizeBits;

    public long BlocksFor(long bytes) => (bytes + BlockSize - 1) >> BlockSizeBits;

    public long Bytes(long blocks) => blocks << BlockSizeBits;

    public static ErofsGeometry For(int blockSize)
    {
        if (!ErofsWriterOptions.BlockSizes.Contains(blockSize))
            throw new ZarException($"EROFS block size {blockSize}: expected one of {string.Join(", ", ErofsWriterOptions.BlockSizes)}");
        return new ErofsGeometry(System.Numerics.BitOperations.Log2((uint)blockSize));
    }
}
