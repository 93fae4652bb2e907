using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Verity;

/// <summary>
/// Builds and checks dm-verity hash trees (format 1, SHA-256, no salt) exactly as <c>veritysetup format</c>
/// writes them: levels top first, leaves last, unused digest slots zero (Nydus fills them with the digest of
/// a zero block, which <c>veritysetup verify</c> rejects). The leaf level, where the work is, is hashed in
/// parallel: each work item reads a run of data blocks, writes the leaf blocks they fill and keeps only those
/// blocks' digests, so memory is 1/128 of the leaf level.
/// </summary>
public static class VerityTree
{
    /// <summary>Leaf hash blocks per work item (16 × 128 data blocks: 1 MiB of data at 512-byte blocks).</summary>
    const int LeafBlocksPerItem = 16;

    /// <summary>Pads the file with zeros to its data's end (whole data blocks), writes the tree and returns it.
    /// With <paramref name="hashPath"/>, the tree goes to that file instead (at <paramref name="hashOffset"/>, default 0)
    /// and the data file is left as it is, so it must hold whole data blocks.</summary>
    public static VerityTreeInfo Format(string path, int dataBlockSize = 512, int hashBlockSize = 4096, long? hashOffset = null, long? dataBlocks = null, string? hashPath = null)
    {
        using var handle = OpenFile(path, hashPath == null ? FileAccess.ReadWrite : FileAccess.Read);
        long length = RandomAccess.GetLength(handle);
        long dataBytes = dataBlocks is { } n ? n * dataBlockSize : length;
        if (hashPath == null) return Write(handle, handle, VerityParameters.For(dataBytes, dataBlockSize, hashBlockSize, hashOffset), path);
        if (dataBytes % dataBlockSize != 0 || dataBytes > length)
            throw new ZarException($"{path}: {length} bytes is not a whole number of {dataBlockSize}-byte blocks (a block device could not show the rest)");
        var p = new VerityParameters(dataBytes / dataBlockSize, hashOffset ?? 0, dataBlockSize, hashBlockSize);
        if (p.DataBlocks == 0) throw new ZarException("dm-verity: no data to protect (0 blocks)");
        using var hash = new AtomicFile(hashPath);
        var tree = Write(handle, hash.Stream.SafeFileHandle, p, path, separate: true);
        hash.Commit();
        return tree;
    }

    /// <summary>Writes the tree of the data blocks at <see cref="VerityParameters.HashOffset"/> (the file grows as needed; bytes
    /// between the data and the tree become zero when they are past the old end).</summary>
    public static VerityTreeInfo Write(SafeFileHandle file, VerityParameters p, string what) => Write(file, file, p, what);

    static VerityTreeInfo Write(SafeFileHandle file, SafeFileHandle hashFile, VerityParameters p, string what, bool separate = false)
    {
        if (!separate) p.CheckLayout();
        long length = RandomAccess.GetLength(file);
        if (!separate && length < p.DataBytes) RandomAccess.SetLength(file, p.DataBytes); // zero padding to whole data blocks, part of the data
        long hashEnd = separate ? p.HashEnd : p.End;
        if (RandomAccess.GetLength(hashFile) < hashEnd) RandomAccess.SetLength(hashFile, hashEnd);
        var levels = p.LevelBlocks();
        var offsets = p.LevelOffsets();
        byte[] root;
        if (levels.Length == 0)
        {
            var block = new byte[p.DataBlockSize];
            ReadExactly(file, 0, block, what);
            root = SHA256.HashData(block);
        }
        else
        {
            var digests = HashLeaves(file, p, what, (item, leafBlocks) => RandomAccess.Write(hashFile, leafBlocks, offsets[0] + item * LeafBlocksPerItem * (long)p.HashBlockSize));
            root = BuildUpper(p, levels, digests, (level, index, block) => RandomAccess.Write(hashFile, block, offsets[level] + index * p.HashBlockSize));
        }
        return new VerityTreeInfo(p, Convert.ToHexStringLower(root));
    }

    /// <summary>
    /// Checks data, tree and root hash as <c>veritysetup verify</c> does (including the zero padding);
    /// null when all is well, else a sentence naming the first bad block.
    /// </summary>
    public static string? Verify(string path, VerityParameters p, string rootHash, string? hashPath = null)
    {
        if (hashPath == null) p.CheckLayout();
        byte[] expectedRoot;
        try { expectedRoot = Convert.FromHexString(rootHash); }
        catch (FormatException) { throw new ZarException($"root hash '{rootHash}' is not hex"); }
        if (expectedRoot.Length != VerityParameters.DigestSize) throw new ZarException($"root hash '{rootHash}': {VerityParameters.DigestSize * 2} hex digits expected");
        using var file = OpenFile(path, FileAccess.Read);
        using var separate = hashPath == null ? null : OpenFile(hashPath, FileAccess.Read);
        var hashFile = separate ?? file;
        long length = RandomAccess.GetLength(file);
        if (length < p.DataBytes) return $"{path}: {length} bytes, shorter than the {p.DataBlocks} data blocks";
        long hashEnd = p.HashEnd;
        if (RandomAccess.GetLength(hashFile) < hashEnd) return $"{hashPath ?? path}: {RandomAccess.GetLength(hashFile)} bytes, the hash tree ends at {hashEnd}";
        var levels = p.LevelBlocks();
        var offsets = p.LevelOffsets();
        if (levels.Length == 0)
        {
            var block = new byte[p.DataBlockSize];
            ReadExactly(file, 0, block, path);
            return SHA256.HashData(block).AsSpan().SequenceEqual(expectedRoot) ? null : $"{path}: data block 0 does not match the root hash";
        }

        // Leaves: recompute each run's leaf blocks and compare with the stored ones; the first differing digest names the block.
        long firstBadData = long.MaxValue;
        var gate = new object();
        var digests = HashLeaves(file, p, path, (item, computed) =>
        {
            var stored = new byte[computed.Length];
            ReadExactly(hashFile, offsets[0] + item * LeafBlocksPerItem * (long)p.HashBlockSize, stored, path);
            if (stored.AsSpan().SequenceEqual(computed)) return;
            int at = computed.AsSpan().CommonPrefixLength(stored);
            long bad = (item * LeafBlocksPerItem * (long)p.HashBlockSize + at) / VerityParameters.DigestSize;
            lock (gate) firstBadData = Math.Min(firstBadData, bad);
        });
        if (firstBadData != long.MaxValue)
            return firstBadData < p.DataBlocks
                ? $"{path}: data block {firstBadData} (bytes {firstBadData * p.DataBlockSize}..{(firstBadData + 1) * p.DataBlockSize}) does not match the hash tree"
                : $"{path}: the hash tree's spare area is not zeroed (leaf level, after {p.DataBlocks} digests)";

        // Upper levels: recompute from the (now trusted) leaf blocks and compare block by block.
        string? bad = null;
        var buffer = new byte[p.HashBlockSize];
        var root = BuildUpper(p, levels, digests, (level, index, block) =>
        {
            if (bad != null) return;
            long at = offsets[level] + index * p.HashBlockSize;
            ReadExactly(hashFile, at, buffer, path);
            if (!buffer.AsSpan().SequenceEqual(block)) bad = $"{path}: hash block at byte {at} (level {level}) does not match";
        });
        if (bad != null) return bad;
        return root.AsSpan().SequenceEqual(expectedRoot) ? null : $"{path}: the root hash is {Convert.ToHexStringLower(root)}, not {rootHash.ToLowerInvariant()}";
    }

    /// <summary>
    /// Hashes the data blocks into leaf hash blocks, a work item (<see cref="LeafBlocksPerItem"/> leaf blocks)
    /// at a time on every core, hands each item's leaf blocks to <paramref name="leaves"/> and returns the
    /// digest of every leaf block (the input of level 1).
    /// </summary>
    static byte[] HashLeaves(SafeFileHandle file, VerityParameters p, string what, Action<long, byte[]> leaves)
    {
        long leafBlocks = (p.DataBlocks + p.DigestsPerBlock - 1) / p.DigestsPerBlock;
        long items = (leafBlocks + LeafBlocksPerItem - 1) / LeafBlocksPerItem;
        if (leafBlocks > Array.MaxLength / VerityParameters.DigestSize) throw new ZarNotSupportedException($"{what}: too large for one hash tree");
        var digests = new byte[leafBlocks * VerityParameters.DigestSize];
        long dataPerItem = (long)LeafBlocksPerItem * p.DigestsPerBlock;
        Parallel.For(0L, items, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => (Data: new byte[dataPerItem * p.DataBlockSize], Leaves: new byte[LeafBlocksPerItem * p.HashBlockSize]),
            (item, _, buf) =>
            {
                long firstData = item * dataPerItem;
                int dataCount = (int)Math.Min(dataPerItem, p.DataBlocks - firstData);
                var data = buf.Data.AsSpan(0, dataCount * p.DataBlockSize);
                ReadExactly(file, firstData * p.DataBlockSize, data, what);
                int leafCount = (dataCount + p.DigestsPerBlock - 1) / p.DigestsPerBlock;
                var leafBytes = buf.Leaves.AsSpan(0, leafCount * p.HashBlockSize);
                leafBytes.Clear();
                for (int b = 0; b < dataCount; b++)
                {
                    int slot = (b >> p.DigestsPerBlockBits) * p.HashBlockSize + (b & (p.DigestsPerBlock - 1)) * VerityParameters.DigestSize;
                    SHA256.HashData(data.Slice(b * p.DataBlockSize, p.DataBlockSize), leafBytes.Slice(slot, VerityParameters.DigestSize));
                }
                long firstLeaf = item * LeafBlocksPerItem;
                for (int l = 0; l < leafCount; l++)
                    SHA256.HashData(leafBytes.Slice(l * p.HashBlockSize, p.HashBlockSize), digests.AsSpan((int)((firstLeaf + l) * VerityParameters.DigestSize), VerityParameters.DigestSize));
                leaves(item, leafBytes.ToArray());
                return buf;
            },
            _ => { });
        return digests;
    }

    /// <summary>Levels 1 and up from the leaf blocks' digests (each level is 1/128 of the one below: done on one core);
    /// hands every block to <paramref name="block"/> and returns the root hash.</summary>
    static byte[] BuildUpper(VerityParameters p, long[] levels, byte[] lowerDigests, Action<int, long, byte[]> block)
    {
        var digests = lowerDigests;
        for (int level = 1; level < levels.Length; level++)
        {
            var next = new byte[levels[level] * VerityParameters.DigestSize];
            int perBlock = p.DigestsPerBlock * VerityParameters.DigestSize;
            for (long i = 0; i < levels[level]; i++)
            {
                var b = new byte[p.HashBlockSize];
                int from = (int)(i * perBlock);
                digests.AsSpan(from, Math.Min(perBlock, digests.Length - from)).CopyTo(b);
                block(level, i, b);
                SHA256.HashData(b, next.AsSpan((int)(i * VerityParameters.DigestSize), VerityParameters.DigestSize));
            }
            digests = next;
        }
        return digests; // the top level is one block: its digest is the root
    }

    static SafeFileHandle OpenFile(string path, FileAccess access)
    {
        try { return File.OpenHandle(path, FileMode.Open, access, FileShare.Read); }
        catch (FileNotFoundException) { throw new ZarNotFoundException($"{path}: no such file"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ZarException($"{path}: cannot open: {e.Message}"); }
    }

    static void ReadExactly(SafeFileHandle file, long offset, Span<byte> destination, string what)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(file, destination[done..], offset + done);
            if (n <= 0) throw new ZarFormatException($"{what}: ends at {offset + done}, {offset + destination.Length} bytes expected");
            done += n;
        }
    }
}

/// <summary>Recognises a hash tree appended to an image in the tarfs layout (the tree at the data's end rounded up to 4096).</summary>
public static class VerityTrailer
{
    /// <summary>
    /// The tree after the first <paramref name="dataBytes"/> bytes of the file when its length is exactly what such a
    /// tree takes (512- or 4096-byte data blocks, 4096-byte hash blocks), with the root hash the tree claims (the digest
    /// of its top block: <see cref="VerityTree.Verify"/> checks it); null when the file has no such tail.
    /// </summary>
    public static VerityTreeInfo? Detect(string path, long dataBytes)
    {
        long length = new FileInfo(path).Length;
        if (length <= dataBytes || dataBytes <= 0) return null;
        foreach (int dbs in new[] { 512, 4096 })
        {
            if (dataBytes % dbs != 0) continue;
            var p = VerityParameters.For(dataBytes, dbs);
            if (p.HashBlocks == 0 || p.End != length) continue;
            var top = new byte[p.HashBlockSize];
            using var f = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (RandomAccess.Read(f, top, p.HashOffset) != top.Length) return null;
            return new VerityTreeInfo(p, Convert.ToHexStringLower(SHA256.HashData(top)));
        }
        return null;
    }
}
