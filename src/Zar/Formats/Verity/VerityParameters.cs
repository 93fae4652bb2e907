using System.Globalization;
using System.Numerics;
using Zar.Model;

namespace Zar.Formats.Verity;

/// <summary>
/// The dm-verity table of a hash tree kept with its data, without a verity superblock (Nydus's tarfs form):
/// format 1, SHA-256, no salt, data and hash in one file, the tree at <see cref="HashOffset"/>. These are the
/// numbers <c>veritysetup open/verify</c> must be given, since nothing in the file records them.
/// </summary>
public sealed record VerityParameters(long DataBlocks, long HashOffset, int DataBlockSize = 512, int HashBlockSize = 4096)
{
    public const int DigestSize = 32;

    /// <summary>Digests per hash block: a power of two (format 1 gives each digest a power-of-two slot).</summary>
    public int DigestsPerBlock => 1 << DigestsPerBlockBits;
    public int DigestsPerBlockBits => BitOperations.Log2((uint)(HashBlockSize / DigestSize));
    public long DataBytes => DataBlocks * DataBlockSize;

    /// <summary>Hash blocks per level, level 0 (the leaf digests) first; none when there is one data block.</summary>
    public long[] LevelBlocks()
    {
        var levels = new List<long>();
        long count = DataBlocks;
        while (count > 1)
        {
            count = (count + DigestsPerBlock - 1) / DigestsPerBlock;
            levels.Add(count);
        }
        return [.. levels];
    }

    public long HashBlocks => LevelBlocks().Sum();
    /// <summary>Where the tree ends in the hash file (nothing is written for one data block).</summary>
    public long HashEnd => HashBlocks == 0 ? 0 : HashOffset + HashBlocks * HashBlockSize;
    /// <summary>Where the tree ends: the file is at least this long (one data block has no tree: the data's end).</summary>
    public long End => HashBlocks == 0 ? DataBytes : HashOffset + HashBlocks * HashBlockSize;

    /// <summary>Byte offset of each level's first block: the top level first in the file, the leaves last.</summary>
    public long[] LevelOffsets()
    {
        var blocks = LevelBlocks();
        var offsets = new long[blocks.Length];
        long at = HashOffset;
        for (int i = blocks.Length - 1; i >= 0; i--)
        {
            offsets[i] = at;
            at += blocks[i] * HashBlockSize;
        }
        return offsets;
    }

    /// <summary>Parameters for a file whose first <paramref name="dataBytes"/> bytes are the data (rounded up to whole
    /// blocks) and whose tree follows at the next hash-block boundary, unless <paramref name="hashOffset"/> says where.</summary>
    public static VerityParameters For(long dataBytes, int dataBlockSize = 512, int hashBlockSize = 4096, long? hashOffset = null)
    {
        Check(dataBlockSize, hashBlockSize);
        long blocks = (dataBytes + dataBlockSize - 1) / dataBlockSize;
        if (blocks == 0) throw new ZarException("dm-verity: no data to protect (0 blocks)");
        long dataEnd = blocks * dataBlockSize;
        long offset = hashOffset ?? (dataEnd + hashBlockSize - 1) / hashBlockSize * hashBlockSize;
        var p = new VerityParameters(blocks, offset, dataBlockSize, hashBlockSize);
        p.CheckLayout();
        return p;
    }

    public void CheckLayout()
    {
        Check(DataBlockSize, HashBlockSize);
        if (DataBlocks <= 0) throw new ZarException("dm-verity: no data to protect (0 blocks)");
        // The kernel table takes the hash start in hash blocks.
        if (HashOffset < 0 || HashOffset % HashBlockSize != 0)
            throw new ZarException($"dm-verity: hash offset {HashOffset} is not a multiple of the hash block size {HashBlockSize}");
        if (HashOffset < DataBytes)
            throw new ZarException($"dm-verity: hash offset {HashOffset} is inside the data ({DataBytes} bytes)");
    }

    static void Check(int dataBlockSize, int hashBlockSize)
    {
        if (dataBlockSize < 512 || dataBlockSize > 4096 || !BitOperations.IsPow2(dataBlockSize))
            throw new ZarException($"dm-verity: data block size {dataBlockSize}: a power of two from 512 to 4096");
        if (hashBlockSize < 512 || hashBlockSize > 4096 || !BitOperations.IsPow2(hashBlockSize))
            throw new ZarException($"dm-verity: hash block size {hashBlockSize}: a power of two from 512 to 4096");
    }

    /// <summary>The options <c>veritysetup open/verify/format</c> need (the form Nydus prints after "dm-verity options:").</summary>
    public string VeritysetupOptions => string.Create(CultureInfo.InvariantCulture,
        $"--no-superblock --format=1 -s \"\" --hash=sha256 --data-block-size={DataBlockSize} --hash-block-size={HashBlockSize} --data-blocks {DataBlocks} --hash-offset {HashOffset}");

    public string OpenCommand(string file, string rootHash, string name = "zar-verity") =>
        $"L=$(losetup -f --show -r {Quote(file)}) && veritysetup open {VeritysetupOptions} $L {name} $L {rootHash}";

    public string VerifyCommand(string file, string rootHash) =>
        $"veritysetup verify {VeritysetupOptions} {Quote(file)} {Quote(file)} {rootHash}";

    static string Quote(string s) => s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+:@".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}

/// <summary>A hash tree as written: its parameters and the root hash (lowercase hex), which the file does not hold.</summary>
public sealed record VerityTreeInfo(VerityParameters Parameters, string RootHash);
