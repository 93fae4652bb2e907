using System.Globalization;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>An input would expand past a limit the user set (or the default): nothing was written.</summary>
public class ZarLimitException(string message) : ZarException(message);

/// <summary>
/// How far an untrusted image may expand when it is written out (extract, convert): bytes of file data
/// (in total, so also per file) and entries. Checked on the tree's metadata before anything is written,
/// and again while writing in case a reader's metadata understated its data. A small gzip layer of zeros
/// can claim terabytes; the defaults stop that while leaving room for any real image.
/// </summary>
public sealed record ExpansionLimits
{
    public const long DefaultMaxBytes = 256L << 30;
    public const long DefaultMaxEntries = 10_000_000;

    /// <summary>Bytes of file data written (holes excluded; an EROFS image: its size).</summary>
    public long MaxBytes { get; init; } = DefaultMaxBytes;
    public long MaxEntries { get; init; } = DefaultMaxEntries;

    public static ExpansionLimits Default { get; } = new();
    public static ExpansionLimits None { get; } = new() { MaxBytes = long.MaxValue, MaxEntries = long.MaxValue };

    /// <summary>
    /// Walks <paramref name="tree"/> (only entries <paramref name="include"/> accepts): counts entries and
    /// the stored bytes of each file once (hardlinks share theirs). Throws naming the file or the total.
    /// </summary>
    public void Check(IReadOnlyFileSystem tree, Func<Entry, bool>? include = null)
    {
        if (MaxBytes == long.MaxValue && MaxEntries == long.MaxValue) return;
        long entries = 0, bytes = 0;
        HashSet<long>? counted = null;
        foreach (var e in tree.Walk())
        {
            if (include != null && !include(e)) continue;
            CheckEntries(tree, ++entries);
            if (!e.IsRegular || e.Size == 0) continue;
            if (e.LinkCount > 1 && e.Inode != 0 && !(counted ??= []).Add(e.Inode)) continue;
            long stored = e.IsSparse ? tree.GetData(e).StoredBytes : e.Size;
            if (stored > MaxBytes)
                throw new ZarLimitException($"{tree.Description}: {ZarPath.Display(e.Path)}: {stored} bytes of data, more than the limit of {Format(MaxBytes)} (--max-size)");
            bytes += stored;
            CheckBytes(tree, bytes);
        }
    }

    public void CheckEntries(IReadOnlyFileSystem tree, long entries)
    {
        if (entries > MaxEntries)
            throw new ZarLimitException($"{tree.Description}: more than {MaxEntries} entries, the limit (--max-entries)");
    }

    public void CheckBytes(IReadOnlyFileSystem tree, long bytes)
    {
        if (bytes > MaxBytes)
            throw new ZarLimitException($"{tree.Description}: more than {Format(MaxBytes)} of file data, the limit (--max-size)");
    }

    /// <summary>A size as users type it: bytes, or a number with K, M, G, T (powers of 1024; KiB, KB, K all alike).</summary>
    public static long ParseSize(string text)
    {
        var s = text.Trim();
        int unitAt = s.Length;
        while (unitAt > 0 && char.IsLetter(s[unitAt - 1])) unitAt--;
        string unit = s[unitAt..].ToUpperInvariant().Replace("IB", "").TrimEnd('B');
        int shift = unit switch { "" => 0, "K" => 10, "M" => 20, "G" => 30, "T" => 40, "P" => 50, _ => -1 };
        if (shift < 0 || !decimal.TryParse(s[..unitAt], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number < 0)
            throw new ZarException($"'{text}' is not a size (e.g. 500M, 20G, 1T)");
        var value = number * (1L << shift);
        if (value > long.MaxValue) throw new ZarException($"'{text}' is too large a size");
        return (long)value;
    }

    public static string Format(long bytes)
    {
        foreach (var (shift, unit) in new[] { (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB") })
            if (bytes >= 1L << shift && bytes % (1L << shift) == 0) return $"{bytes >> shift} {unit}";
        return $"{bytes} bytes";
    }
}
