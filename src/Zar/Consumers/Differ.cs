using System.Text;
using Zar.Model;

namespace Zar.Consumers;

public enum DifferenceKind
{
    OnlyInA,
    OnlyInB,
    Type,
    Content,
    Mode,
    Owner,
    Mtime,
    Xattr,
    LinkTarget,
    Device,
    Hardlink,
}

/// <summary>One difference at a path (normalized; "" is the root). Detail is human-readable.</summary>
public sealed record Difference(string Path, DifferenceKind Kind, string Detail)
{
    public override string ToString() => Differ.Render(this);
}

public sealed record DiffOptions
{
    /// <summary>Skip the root directory's own attributes (an overlayfs mount root rarely matches).</summary>
    public bool IgnoreRootAttributes { get; init; }
    public bool IgnoreMtime { get; init; }
    public bool IgnoreDirectoryMtime { get; init; }
    public bool IgnoreOwnership { get; init; }
    /// <summary>
    /// Mtimes are compared after flooring both to a multiple of this many nanoseconds:
    /// 1 is exact, 1_000_000_000 compares seconds only (for formats that store no nanoseconds).
    /// </summary>
    public long MtimeGranularityNanoseconds { get; init; } = 1;
    /// <summary>Ignore trusted.overlay.* (overlayfs bookkeeping: opaque, redirect, origin, ...).</summary>
    public bool IgnoreOverlayXattrs { get; init; }
    /// <summary>Xattr names to ignore; a trailing '*' makes an entry a prefix ("security.selinux", "user.*").</summary>
    public IReadOnlyList<string> IgnoreXattrs { get; init; } = Array.Empty<string>();
    public bool CompareContent { get; init; } = true;
}

/// <summary>
/// Compares two filesystems entry by entry: both are walked in <see cref="ZarPath.ComparePaths"/>
/// order and merge-joined, so memory stays proportional to the hardlink bookkeeping, not the trees.
/// </summary>
public sealed class Differ
{
    const int ChunkSize = 1 << 20;

    readonly IReadOnlyFileSystem _a, _b;
    readonly DiffOptions _o;
    readonly List<Difference> _out = new();
    // Hardlink identity is a property of the whole tree: collect the names of every inode on
    // each side and compare the name sets after the walk.
    readonly Dictionary<long, List<string>> _namesA = new(), _namesB = new();
    readonly List<(string Path, long InodeA, long InodeB)> _linkCandidates = new();
    byte[]? _bufA, _bufB;

    Differ(IReadOnlyFileSystem a, IReadOnlyFileSystem b, DiffOptions o) { _a = a; _b = b; _o = o; }

    public static IReadOnlyList<Difference> Compare(IReadOnlyFileSystem a, IReadOnlyFileSystem b, DiffOptions? options = null)
    {
        var d = new Differ(a, b, options ?? new DiffOptions());
        d.Run();
        return d._out;
    }

    /// <summary>One line: "path: detail", paths shown with <see cref="ZarPath.Display"/>, the root as "/".</summary>
    public static string Render(Difference d) => $"{(d.Path.Length == 0 ? "/" : ZarPath.Display(d.Path))}: {d.Detail}";

    public static string Render(IEnumerable<Difference> diffs)
    {
        var sb = new StringBuilder();
        foreach (var d in diffs) sb.Append(Render(d)).Append('\n');
        return sb.ToString();
    }

    void Run()
    {
        using var ea = new OrderedWalk(_a);
        using var eb = new OrderedWalk(_b);
        Entry? x = Next(ea), y = Next(eb);
        while (x != null || y != null)
        {
            int c = x == null ? 1 : y == null ? -1 : ZarPath.ComparePaths(x.Path, y.Path);
            if (c < 0)
            {
                Add(x!.Path, DifferenceKind.OnlyInA, $"only in A ({Describe(x)})");
                Remember(_namesA, x);
                x = SkipSubtree(ea, x, _namesA);
            }
            else if (c > 0)
            {
                Add(y!.Path, DifferenceKind.OnlyInB, $"only in B ({Describe(y)})");
                Remember(_namesB, y);
                y = SkipSubtree(eb, y, _namesB);
            }
            else
            {
                // A directory on one side only, its type changed: one line, not one per descendant.
                bool typeDiffers = x!.Type != y!.Type;
                CompareEntries(x, y);
                x = typeDiffers && x.IsDirectory ? SkipSubtree(ea, x, _namesA) : Next(ea);
                y = typeDiffers && y.IsDirectory ? SkipSubtree(eb, y, _namesB) : Next(eb);
            }
        }
        CompareHardlinks();
    }

    static Entry? Next(OrderedWalk e) => e.MoveNext() ? e.Current : null;

    /// <summary>
    /// A walk checked to be strictly in path order: the merge-join silently misreports otherwise,
    /// so a reader that breaks the contract is named instead.
    /// </summary>
    sealed class OrderedWalk(IReadOnlyFileSystem fs) : IDisposable
    {
        readonly IEnumerator<Entry> _e = fs.Walk().GetEnumerator();
        string? _previous;
        public Entry Current => _e.Current;

        public bool MoveNext()
        {
            if (!_e.MoveNext()) return false;
            var path = _e.Current.Path;
            if (_previous != null && ZarPath.ComparePaths(_previous, path) >= 0)
                throw new ZarFormatException($"{fs.Description}: entries out of order: {ZarPath.Display(path)} after {ZarPath.Display(_previous)}");
            _previous = path;
            return true;
        }

        public void Dispose() => _e.Dispose();
    }

    /// <summary>Skips the descendants of an entry present on one side only (still counting their hardlink names).</summary>
    static Entry? SkipSubtree(OrderedWalk e, Entry top, Dictionary<long, List<string>> names)
    {
        while (true)
        {
            var n = Next(e);
            if (n == null) return null;
            if (!top.IsDirectory || !IsBelow(n.Path, top.Path)) return n;
            Remember(names, n);
        }
    }

    static bool IsBelow(string path, string dir) =>
        dir.Length == 0 || (path.Length > dir.Length && path[dir.Length] == '/' && path.StartsWith(dir, StringComparison.Ordinal));

    static void Remember(Dictionary<long, List<string>> names, Entry e)
    {
        if (e.IsDirectory || e.Inode == 0) return;
        if (!names.TryGetValue(e.Inode, out var list)) names[e.Inode] = list = new List<string>(1);
        list.Add(e.Path);
    }

    void Add(string path, DifferenceKind kind, string detail) => _out.Add(new Difference(path, kind, detail));

    static string Describe(Entry e) => e.Type switch
    {
        EntryType.Regular => $"file, {e.Size} byte{(e.Size == 1 ? "" : "s")}",
        EntryType.Directory => "directory",
        EntryType.Symlink => $"symlink -> {ZarPath.Display(e.LinkTarget ?? "")}",
        EntryType.CharDevice => $"char device {e.DevMajor}:{e.DevMinor}",
        EntryType.BlockDevice => $"block device {e.DevMajor}:{e.DevMinor}",
        EntryType.Hardlink => $"hardlink to {ZarPath.Display(e.LinkTarget ?? "")}",
        _ => e.Type.ToString().ToLowerInvariant(),
    };

    void CompareEntries(Entry a, Entry b)
    {
        Remember(_namesA, a);
        Remember(_namesB, b);
        if (a.Type != b.Type)
        {
            Add(a.Path, DifferenceKind.Type, $"type differs: {Describe(a)} in A, {Describe(b)} in B");
            return;
        }
        if (!a.IsDirectory && a.Inode != 0 && b.Inode != 0) _linkCandidates.Add((a.Path, a.Inode, b.Inode));
        bool attributes = !(a.Path.Length == 0 && _o.IgnoreRootAttributes);

        switch (a.Type)
        {
            case EntryType.Regular when _o.CompareContent:
                CompareContent(a, b);
                break;
            case EntryType.Symlink or EntryType.Hardlink when a.LinkTarget != b.LinkTarget:
                Add(a.Path, DifferenceKind.LinkTarget,
                    $"link target differs: {Quote(a.LinkTarget)} in A, {Quote(b.LinkTarget)} in B");
                break;
            case EntryType.CharDevice or EntryType.BlockDevice when a.DevMajor != b.DevMajor || a.DevMinor != b.DevMinor:
                Add(a.Path, DifferenceKind.Device, $"device differs: {a.DevMajor}:{a.DevMinor} in A, {b.DevMajor}:{b.DevMinor} in B");
                break;
        }
        if (!attributes) return;

        if (a.Mode != b.Mode)
            Add(a.Path, DifferenceKind.Mode, $"mode differs: {Octal(a.Mode)} in A, {Octal(b.Mode)} in B");
        if (!_o.IgnoreOwnership && (a.Uid != b.Uid || a.Gid != b.Gid))
            Add(a.Path, DifferenceKind.Owner, $"owner differs: {a.Uid}:{a.Gid} in A, {b.Uid}:{b.Gid} in B");
        if (!_o.IgnoreMtime && !(a.IsDirectory && _o.IgnoreDirectoryMtime) && !SameMtime(a, b))
            Add(a.Path, DifferenceKind.Mtime, $"mtime differs: {Time(a)} in A, {Time(b)} in B");
        CompareXattrs(a, b);
    }

    static string Octal(uint mode) => "0" + Convert.ToString(mode, 8).PadLeft(3, '0');

    static string Quote(string? s) => s == null ? "(none)" : "\"" + ZarPath.Display(s) + "\"";

    static string Time(Entry e) => $"{e.MtimeSeconds}.{e.MtimeNanoseconds:D9}";

    bool SameMtime(Entry a, Entry b)
    {
        long g = Math.Max(1, _o.MtimeGranularityNanoseconds);
        // Int128: seconds * 1e9 overflows long for dates far from 1970, and floor division keeps
        // negative times (before 1970) in the right bucket.
        Int128 ta = (Int128)a.MtimeSeconds * 1_000_000_000 + a.MtimeNanoseconds;
        Int128 tb = (Int128)b.MtimeSeconds * 1_000_000_000 + b.MtimeNanoseconds;
        return FloorDiv(ta, g) == FloorDiv(tb, g);
    }

    static Int128 FloorDiv(Int128 v, long d)
    {
        var q = v / d;
        if (v % d != 0 && v < 0) q--;
        return q;
    }

    void CompareContent(Entry a, Entry b)
    {
        if (a.Size != b.Size)
        {
            Add(a.Path, DifferenceKind.Content, $"size differs: {a.Size} bytes in A, {b.Size} in B");
            return;
        }
        _bufA ??= new byte[ChunkSize];
        _bufB ??= new byte[ChunkSize];
        // Same hole layout on both sides (the common case for sparse files): holes are zeros on
        // both, so only the data extents need reading.
        var xa = _a.GetExtents(a);
        var ranges = xa.SequenceEqual(_b.GetExtents(b)) ? xa : new[] { new DataExtent(0, a.Size) };
        foreach (var r in ranges)
            if (!CompareRange(a, b, r.Offset, Math.Min(r.End, a.Size))) return;
    }

    bool CompareRange(Entry a, Entry b, long start, long end)
    {
        for (long pos = start; pos < end;)
        {
            int want = (int)Math.Min(ChunkSize, end - pos);
            int na = _a.ReadFully(a, pos, _bufA.AsSpan(0, want));
            int nb = _b.ReadFully(b, pos, _bufB.AsSpan(0, want));
            if (na != want || nb != want)
            {
                Add(a.Path, DifferenceKind.Content,
                    $"content differs: file ends at {pos + Math.Min(na, nb)} in {(na < nb ? "A" : "B")} though its size is {a.Size}");
                return false;
            }
            int common = _bufA.AsSpan(0, want).CommonPrefixLength(_bufB.AsSpan(0, want));
            if (common != want)
            {
                Add(a.Path, DifferenceKind.Content, $"content differs at byte {pos + common}");
                return false;
            }
            pos += want;
        }
        return true;
    }

    bool IgnoredXattr(string name)
    {
        if (_o.IgnoreOverlayXattrs && name.StartsWith("trusted.overlay.", StringComparison.Ordinal)) return true;
        foreach (var p in _o.IgnoreXattrs)
        {
            if (p.EndsWith('*') ? name.StartsWith(p[..^1], StringComparison.Ordinal) : name == p) return true;
        }
        return false;
    }

    void CompareXattrs(Entry a, Entry b)
    {
        if (a.Xattrs.Count == 0 && b.Xattrs.Count == 0) return;
        var names = new SortedSet<string>(ZarPath.NameComparer);
        foreach (var x in a.Xattrs) if (!IgnoredXattr(x.Name)) names.Add(x.Name);
        foreach (var x in b.Xattrs) if (!IgnoredXattr(x.Name)) names.Add(x.Name);
        foreach (var n in names)
        {
            var va = a.GetXattr(n);
            var vb = b.GetXattr(n);
            if (va != null && vb != null && va.AsSpan().SequenceEqual(vb)) continue;
            var what = va == null ? $"xattr {ZarPath.Display(n)} only in B ({Value(vb!)})"
                : vb == null ? $"xattr {ZarPath.Display(n)} only in A ({Value(va)})"
                : $"xattr {ZarPath.Display(n)} differs: {Value(va)} in A, {Value(vb)} in B";
            Add(a.Path, DifferenceKind.Xattr, what);
        }
    }

    /// <summary>Printable ASCII as a quoted string, anything else as hex; long values are cut.</summary>
    static string Value(byte[] v)
    {
        const int Max = 64;
        var shown = v.AsSpan(0, Math.Min(v.Length, Max));
        bool printable = true;
        foreach (byte c in shown) if (c < 0x20 || c > 0x7e) { printable = false; break; }
        var s = printable ? "\"" + Encoding.ASCII.GetString(shown) + "\"" : "0x" + Convert.ToHexString(shown).ToLowerInvariant();
        if (v.Length == 0) s = "empty";
        return v.Length > Max ? $"{s}... ({v.Length} bytes)" : s;
    }

    void CompareHardlinks()
    {
        foreach (var (path, ia, ib) in _linkCandidates)
        {
            var ga = _namesA[ia];
            var gb = _namesB[ib];
            if (ga.Count == 1 && gb.Count == 1) continue;
            var othersA = ga.Where(p => p != path).OrderBy(p => p, ZarPath.PathComparer).ToList();
            var othersB = gb.Where(p => p != path).OrderBy(p => p, ZarPath.PathComparer).ToList();
            if (othersA.SequenceEqual(othersB)) continue;
            Add(path, DifferenceKind.Hardlink, $"hardlinked with {Set(othersA)} in A but {Set(othersB)} in B");
        }
        // Hardlink findings come after the walk; keep the whole report in walk order.
        var sorted = _out.OrderBy(d => d.Path, ZarPath.PathComparer).ToList(); // stable: per-path order kept
        _out.Clear();
        _out.AddRange(sorted);
    }

    static string Set(List<string> paths) => "{" + string.Join(", ", paths.Select(ZarPath.Display)) + "}";
}
