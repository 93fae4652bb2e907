using System.Globalization;
using Zar.Formats.Erofs;
using Zar.Formats.Verity;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>What <c>zar inspect</c> shows for any tree.</summary>
public static class Inspection
{
    /// <summary>The image's own description; for trees that have none (directories, merged layers), their entry and byte counts.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Describe(IReadOnlyFileSystem fs)
    {
        if (fs is ErofsImage erofs) return [.. erofs.Describe(), .. Verity(erofs.FilePath, (long)erofs.Superblock.Blocks << erofs.Superblock.BlockSizeBits)];
        if (fs is IDescribeImage image) return image.Describe();
        long entries = 0, bytes = 0;
        foreach (var e in fs.Walk()) { entries++; if (e.IsRegular) bytes += e.Size; }
        return [new("source", fs.Description), new("entries", Number(entries)), new("file bytes", Number(bytes))];
    }

    /// <summary>A dm-verity tree appended to the image (tarfs *_with_verity, zar verity format): its parameters and claimed root.</summary>
    static IEnumerable<KeyValuePair<string, string>> Verity(string path, long imageBytes)
    {
        if (VerityTrailer.Detect(path, imageBytes) is not { } v) return [new("verity", "none")];
        return
        [
            new("verity", $"sha256 tree at byte {v.Parameters.HashOffset}, {v.Parameters.HashBlocks} hash blocks"),
            new("verity data blocks", $"{v.Parameters.DataBlocks} of {v.Parameters.DataBlockSize} bytes"),
            new("verity root hash", $"{v.RootHash} (the tree's top block; check it with zar verity verify)"),
            new("verity options", v.Parameters.VeritysetupOptions),
        ];
    }

    static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
