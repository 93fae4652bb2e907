using Zar.Model;

namespace Zar.Tests.Formats.Erofs;

/// <summary>
/// Compares two filesystem trees entry by entry: type, mode, owner, mtime (s + ns), size, content,
/// link targets, devices, xattrs and hardlink identity (the same names share an inode on both sides).
/// </summary>
public static class TreeComparer
{
    public sealed record Options
    {
        public bool Contents { get; init; } = true;
        public bool Xattrs { get; init; } = true;
        public bool Hardlinks { get; init; } = true;
        public bool Mtimes { get; init; } = true;
        /// <summary>Xattr names ignored on both sides (e.g. ones a mount hides).</summary>
        public Func<string, bool>? IgnoreXattr { get; init; }
        /// <summary>Check big holes of sparse expected files at sample points only.</summary>
        public bool SampleHoles { get; init; }
    }

    public static void AssertSame(IReadOnlyFileSystem expected, IReadOnlyFileSystem actual, Options? options = null)
    {
        var diffs = Diff(expected, actual, options);
        if (diffs.Count > 0)
            Assert.Fail($"{expected.Description} vs {actual.Description}: {diffs.Count} differences:\n" + string.Join("\n", diffs.Take(40)));
    }

    public static List<string> Diff(IReadOnlyFileSystem expected, IReadOnlyFileSystem actual, Options? options = null)
    {
        options ??= new Options();
        var diffs = new List<string>();
        var a = expected.Walk().ToList();
        var b = actual.Walk().ToList();
        var byPath = b.ToDictionary(e => e.Path, StringComparer.Ordinal);
        foreach (var e in a)
            if (!byPath.ContainsKey(e.Path)) diffs.Add($"only in expected: {ZarPath.Display(e.Path)}");
        var aPaths = a.Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        foreach (var e in b)
            if (!aPaths.Contains(e.Path)) diffs.Add($"only in actual: {ZarPath.Display(e.Path)}");
        var fwd = new Dictionary<long, long>();
        var back = new Dictionary<long, long>();
        foreach (var x in a)
        {
            if (!byPath.TryGetValue(x.Path, out var y)) continue;
            string p = ZarPath.Display(x.Path);
            void Check<T>(string what, T l, T r) { if (!EqualityComparer<T>.Default.Equals(l, r)) diffs.Add($"{p}: {what} {l} != {r}"); }
            Check("type", x.Type, y.Type);
            if (x.Type != y.Type) continue;
            Check("mode", Convert.ToString(x.Mode, 8), Convert.ToString(y.Mode, 8));
            Check("uid", x.Uid, y.Uid);
            Check("gid", x.Gid, y.Gid);
            if (options.Mtimes)
            {
                Check("mtime", x.MtimeSeconds, y.MtimeSeconds);
                Check("mtime ns", x.MtimeNanoseconds, y.MtimeNanoseconds);
            }
            Check("size", x.Size, y.Size);
            Check("link target", x.LinkTarget, y.LinkTarget);
            Check("device", (x.DevMajor, x.DevMinor), (y.DevMajor, y.DevMinor));
            if (options.Xattrs)
            {
                string Xs(Entry e) => string.Join(",", e.Xattrs.Where(v => options.IgnoreXattr?.Invoke(v.Name) != true).Select(v => v.ToString()));
                Check("xattrs", Xs(x), Xs(y));
            }
            if (options.Hardlinks && x.Type != EntryType.Directory && x.Inode != 0)
            {
                Check("link count", x.LinkCount, y.LinkCount);
                if (fwd.TryGetValue(x.Inode, out long mapped) && mapped != y.Inode) diffs.Add($"{p}: hardlink identity differs (expected shares an inode the actual does not)");
                if (back.TryGetValue(y.Inode, out long rmapped) && rmapped != x.Inode) diffs.Add($"{p}: hardlink identity differs (actual shares an inode the expected does not)");
                fwd[x.Inode] = y.Inode;
                back[y.Inode] = x.Inode;
            }
            if (options.Contents && x.Type == EntryType.Regular && x.Size == y.Size)
            {
                var d = FirstContentDifference(expected, x, actual, y, options.SampleHoles);
                if (d >= 0) diffs.Add($"{p}: content differs at byte {d}");
            }
        }
        return diffs;
    }

    /// <summary>Offset of the first differing byte, or -1. Holes the expected side reports are checked as zeros on the actual side only.</summary>
    public static long FirstContentDifference(IReadOnlyFileSystem fa, Entry a, IReadOnlyFileSystem fb, Entry b, bool sampleHoles = false)
    {
        var ba = Buffers.A ??= new byte[1 << 20];
        var bb = Buffers.B ??= new byte[1 << 20];
        long pos = 0;
        foreach (var x in fa.GetExtents(a).Where(x => x.Length > 0).Append(new DataExtent(a.Size, 0)))
        {
            if (x.Offset > pos)
            {
                long d = CheckZeros(fb, b, pos, x.Offset - pos, bb, sampleHoles);
                if (d >= 0) return d;
            }
            for (long off = x.Offset; off < x.End;)
            {
                int want = (int)Math.Min(ba.Length, x.End - off);
                int na = fa.ReadFully(a, off, ba.AsSpan(0, want));
                int nb = fb.ReadFully(b, off, bb.AsSpan(0, want));
                if (na != want || nb != want) return off + Math.Min(na, nb);
                int m = ba.AsSpan(0, want).CommonPrefixLength(bb.AsSpan(0, want));
                if (m < want) return off + m;
                off += want;
            }
            pos = Math.Max(pos, x.End);
        }
        return -1;
    }

    /// <summary>
    /// Holes must read as zeros. Sampling (start, end and a few spots of each big hole) keeps a
    /// multi-GiB sparse file cheap when the actual side is a kernel mount that pages in every zero.
    /// </summary>
    static long CheckZeros(IReadOnlyFileSystem fs, Entry e, long start, long length, byte[] buf, bool sample)
    {
        var ranges = new List<(long, long)>();
        const long piece = 1 << 20;
        if (!sample || length <= 8 * piece) ranges.Add((start, length));
        else
        {
            ranges.Add((start, piece));
            for (int i = 1; i <= 4; i++) ranges.Add((start + length / 5 * i / piece * piece, 65536));
            ranges.Add((start + length - piece, piece));
        }
        foreach (var (s, l) in ranges)
            for (long off = s; off < s + l;)
            {
                int want = (int)Math.Min(buf.Length, s + l - off);
                int n = fs.ReadFully(e, off, buf.AsSpan(0, want));
                if (n != want) return off + n;
                int nz = buf.AsSpan(0, want).IndexOfAnyExcept((byte)0);
                if (nz >= 0) return off + nz;
                off += want;
            }
        return -1;
    }

    static class Buffers
    {
        [ThreadStatic] public static byte[]? A;
        [ThreadStatic] public static byte[]? B;
    }
}
