using Zar.Consumers;
using Zar.Model;
using Zar.Native;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Consumers;

/// <summary>
/// The fixture tree is copied with cp -a (independent of the Extractor), then one attribute is
/// changed at a time; each change must come out as exactly the expected differences.
/// </summary>
public sealed class DifferTests : IClassFixture<DifferTests.SourceTree>
{
    public sealed class SourceTree : IDisposable
    {
        readonly TempDir _dir = new();
        public string Path => _dir["src"];
        public SourceTree() => TreeFixture.CreateEverything(Path);
        public void Dispose() => _dir.Dispose();
    }

    readonly SourceTree _src;
    public DifferTests(SourceTree src) => _src = src;

    string Copy(TempDir t)
    {
        var copy = t["copy"];
        Tools.Sh($"cp -a --preserve=all '{_src.Path}' '{copy}'");
        return copy;
    }

    IReadOnlyList<Difference> Diff(string copy, DiffOptions? options = null)
    {
        using var a = new HostDirectory(_src.Path);
        using var b = new HostDirectory(copy);
        return Differ.Compare(a, b, options);
    }

    /// <summary>Puts back the source mtimes of a path and its parent (which a mutation may bump).</summary>
    unsafe void RestoreMtimes(string copy, string rel, bool self = true)
    {
        using var src = new HostDirectory(_src.Path);
        foreach (var p in self ? new[] { rel, ZarPath.Parent(rel) } : new[] { ZarPath.Parent(rel) })
        {
            var e = src.Lookup(p);
            if (e == null) continue;
            SetMtime(System.IO.Path.Combine(copy, p), e.MtimeSeconds, e.MtimeNanoseconds);
        }
    }

    static unsafe void SetMtime(string path, long sec, uint nsec)
    {
        var ts = stackalloc Libc.Timespec[2];
        ts[0] = new Libc.Timespec { tv_nsec = Libc.UTIME_OMIT };
        ts[1] = new Libc.Timespec { tv_sec = sec, tv_nsec = nsec };
        fixed (byte* p = Libc.Z(path))
            if (Libc.utimensat(Libc.AT_FDCWD, p, ts, Libc.AT_SYMLINK_NOFOLLOW) != 0) throw new InvalidOperationException(path);
    }

    [Fact]
    public void CopyMadeByCpHasNoDifferences()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var diffs = Diff(Copy(t));
        Assert.True(diffs.Count == 0, Differ.Render(diffs));
    }

    public static TheoryData<string> Mutations => new()
    {
        "content-byte", "size", "mode", "setuid-dropped", "uid", "gid", "mtime-ns", "dir-mtime-ns", "symlink-mtime",
        "xattr-value", "xattr-removed", "xattr-added-on-dir", "capability", "trusted-on-dir", "link-target",
        "hardlink-broken", "type-change", "extra-file", "missing-file", "missing-dir", "device", "root-mode",
    };

    [Theory]
    [MemberData(nameof(Mutations))]
    public void EachSingleChangeIsReportedWithItsKind(string mutation)
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        var copy = Copy(t);
        string P(string rel) => System.IO.Path.Combine(copy, rel);
        string Q(string rel) => "'" + P(rel) + "'";
        (string Path, DifferenceKind Kind)[] expected;
        switch (mutation)
        {
            case "content-byte":
            {
                var bytes = File.ReadAllBytes(P(TreeFixture.File4096));
                bytes[2000] ^= 0x5a;
                File.WriteAllBytes(P(TreeFixture.File4096), bytes);
                RestoreMtimes(copy, TreeFixture.File4096);
                expected = new[] { (TreeFixture.File4096, DifferenceKind.Content) };
                break;
            }
            case "size":
                File.AppendAllText(P(TreeFixture.File4095), "x");
                RestoreMtimes(copy, TreeFixture.File4095);
                expected = new[] { (TreeFixture.File4095, DifferenceKind.Content) };
                break;
            case "mode":
                Tools.Sh($"chmod 600 {Q(TreeFixture.File4097)}");
                expected = new[] { (TreeFixture.File4097, DifferenceKind.Mode) };
                break;
            case "setuid-dropped":
                Tools.Sh($"chmod u-s {Q(TreeFixture.Setuid)}");
                expected = new[] { (TreeFixture.Setuid, DifferenceKind.Mode) };
                break;
            case "uid":
                Tools.Sh($"chown -h 1234 {Q(TreeFixture.File4097)}");
                expected = new[] { (TreeFixture.File4097, DifferenceKind.Owner) };
                break;
            case "gid":
                Tools.Sh($"chgrp -h 4321 {Q(TreeFixture.MaxOwnerDir)}");
                expected = new[] { (TreeFixture.MaxOwnerDir, DifferenceKind.Owner) };
                break;
            case "mtime-ns":
                SetMtime(P(TreeFixture.OneByte), TreeFixture.NegativeMtimeSeconds, TreeFixture.NegativeMtimeNanoseconds + 1);
                expected = new[] { (TreeFixture.OneByte, DifferenceKind.Mtime) };
                break;
            case "dir-mtime-ns":
            {
                using var src = new HostDirectory(_src.Path);
                var e = src.Lookup(TreeFixture.EmptyDir)!;
                SetMtime(P(TreeFixture.EmptyDir), e.MtimeSeconds, (e.MtimeNanoseconds + 1) % 1_000_000_000);
                expected = new[] { (TreeFixture.EmptyDir, DifferenceKind.Mtime) };
                break;
            }
            case "symlink-mtime":
                SetMtime(P(TreeFixture.DanglingLink), 1, 2);
                expected = new[] { (TreeFixture.DanglingLink, DifferenceKind.Mtime) };
                break;
            case "xattr-value":
                Tools.Sh($"setfattr -n user.text -v hellO {Q(TreeFixture.XattrFile)}");
                expected = new[] { (TreeFixture.XattrFile, DifferenceKind.Xattr) };
                break;
            case "xattr-removed":
                Tools.Sh($"setfattr -x user.empty {Q(TreeFixture.XattrFile)}");
                expected = new[] { (TreeFixture.XattrFile, DifferenceKind.Xattr) };
                break;
            case "xattr-added-on-dir":
                Tools.Sh($"setfattr -n user.new -v 0x00 {Q(TreeFixture.XattrDir)}");
                expected = new[] { (TreeFixture.XattrDir, DifferenceKind.Xattr) };
                break;
            case "capability":
                Tools.Sh($"setfattr -n security.capability -v 0x0100000200000001000000000000000000000000 {Q(TreeFixture.Capability)}");
                expected = new[] { (TreeFixture.Capability, DifferenceKind.Xattr) };
                break;
            case "trusted-on-dir":
                Tools.Sh($"setfattr -n trusted.zar-test -v other {Q(TreeFixture.XattrDir)}");
                expected = new[] { (TreeFixture.XattrDir, DifferenceKind.Xattr) };
                break;
            case "link-target":
                Tools.Sh($"ln -sfn ../files/f4096 {Q(TreeFixture.RelativeLink)} && chown -h 65534:65534 {Q(TreeFixture.RelativeLink)}");
                RestoreMtimes(copy, TreeFixture.RelativeLink);
                expected = new[] { (TreeFixture.RelativeLink, DifferenceKind.LinkTarget) };
                break;
            case "hardlink-broken":
            {
                var h2 = TreeFixture.HardlinkGroup[1];
                Tools.Sh($"cp -a --preserve=all {Q(h2)} {Q(h2 + ".tmp")} && mv {Q(h2 + ".tmp")} {Q(h2)}");
                RestoreMtimes(copy, h2, self: false);
                expected = TreeFixture.HardlinkGroup.Order(ZarPath.PathComparer).Select(p => (p, DifferenceKind.Hardlink)).ToArray();
                break;
            }
            case "type-change":
                Tools.Sh($"rm {Q(TreeFixture.OneByte)} && mkdir {Q(TreeFixture.OneByte)}");
                RestoreMtimes(copy, TreeFixture.OneByte, self: false);
                expected = new[] { (TreeFixture.OneByte, DifferenceKind.Type) };
                break;
            case "extra-file":
                File.WriteAllText(P("files/extra"), "x");
                RestoreMtimes(copy, "files/extra", self: false);
                expected = new[] { ("files/extra", DifferenceKind.OnlyInB) };
                break;
            case "missing-file":
                File.Delete(P(TreeFixture.File4097));
                RestoreMtimes(copy, TreeFixture.File4097, self: false);
                expected = new[] { (TreeFixture.File4097, DifferenceKind.OnlyInA) };
                break;
            case "missing-dir":
                Tools.Sh($"rm -rf {Q(TreeFixture.ReadOnlyDir)}");
                RestoreMtimes(copy, TreeFixture.ReadOnlyDir, self: false);
                expected = new[] { (TreeFixture.ReadOnlyDir, DifferenceKind.OnlyInA) }; // one line, not one per child
                break;
            case "device":
                Tools.Sh($"f={Q(TreeFixture.CharDevice)}; rm \"$f\" && mknod -m 666 \"$f\" c 1 5");
                RestoreMtimes(copy, TreeFixture.CharDevice);
                expected = new[] { (TreeFixture.CharDevice, DifferenceKind.Device) };
                break;
            case "root-mode":
                Tools.Sh($"chmod 700 '{copy}'");
                expected = new[] { ("", DifferenceKind.Mode) };
                break;
            default: throw new ArgumentException(mutation);
        }

        var diffs = Diff(copy);
        Assert.True(expected.SequenceEqual(diffs.Select(d => (d.Path, d.Kind))),
            $"expected {string.Join(", ", expected)} got:\n{Differ.Render(diffs)}");
        foreach (var d in diffs) Assert.False(string.IsNullOrWhiteSpace(d.Detail));
    }

    [Fact]
    public void HardlinkDifferenceNamesBothSets()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var copy = Copy(t);
        var h2 = TreeFixture.HardlinkGroup[1];
        Tools.Sh($"cd '{copy}' && cp -a {h2} {h2}.tmp && mv {h2}.tmp {h2}");
        RestoreMtimes(copy, h2, self: false);
        var line = Diff(copy).Where(d => d.Path == h2).Select(Differ.Render).Single();
        Assert.Equal("hard/a/h2: hardlinked with {hard/b/h3, hard/h1} in A but {} in B", line);
    }

    [Fact]
    public void OptionsSilenceWhatTheySay()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var copy = Copy(t);
        using (var src = new HostDirectory(_src.Path))
        {
            var dir = src.Lookup(TreeFixture.EmptyDir)!;
            SetMtime(System.IO.Path.Combine(copy, TreeFixture.EmptyDir), dir.MtimeSeconds + 1, dir.MtimeNanoseconds);
        }
        // Same second, other nanoseconds (negative time: flooring, not truncation toward zero).
        SetMtime(System.IO.Path.Combine(copy, TreeFixture.OneByte), TreeFixture.NegativeMtimeSeconds, 999_999_999);
        Tools.Sh($"chown 77:78 '{copy}/{TreeFixture.File4096}'");
        Tools.Sh($"setfattr -n trusted.overlay.opaque -v y '{copy}/{TreeFixture.XattrDir}'");
        Tools.Sh($"setfattr -n user.text -v changed '{copy}/{TreeFixture.XattrFile}'");
        Tools.Sh($"chmod 700 '{copy}'");

        var all = Diff(copy).Select(d => (d.Path, d.Kind)).ToList();
        Assert.Equal(new[]
        {
            ("", DifferenceKind.Mode),
            (TreeFixture.EmptyDir, DifferenceKind.Mtime),
            (TreeFixture.XattrDir, DifferenceKind.Xattr),
            (TreeFixture.File4096, DifferenceKind.Owner),
            (TreeFixture.OneByte, DifferenceKind.Mtime),
            (TreeFixture.XattrFile, DifferenceKind.Xattr),
        }.OrderBy(x => x.Item1, ZarPath.PathComparer), all);

        var quiet = Diff(copy, new DiffOptions
        {
            IgnoreRootAttributes = true, IgnoreDirectoryMtime = true, MtimeGranularityNanoseconds = 1_000_000_000,
            IgnoreOwnership = true, IgnoreOverlayXattrs = true, IgnoreXattrs = new[] { "user.te*" },
        });
        Assert.True(quiet.Count == 0, Differ.Render(quiet));

        var noMtime = Diff(copy, new DiffOptions { IgnoreMtime = true }).Select(d => d.Kind).ToList();
        Assert.DoesNotContain(DifferenceKind.Mtime, noMtime);
        var secondsOnly = Diff(copy, new DiffOptions { MtimeGranularityNanoseconds = 1_000_000_000 });
        Assert.Contains(secondsOnly, d => d.Path == TreeFixture.EmptyDir && d.Kind == DifferenceKind.Mtime);
        Assert.DoesNotContain(secondsOnly, d => d.Path == TreeFixture.OneByte);
    }

    [Fact]
    public void RenderingShowsOneLinePerDifferenceWithEscapedNames()
    {
        var a = new MemoryFileSystem("A").File("bad-\udcff", "x").File("new\nline", "1").Dir("only-a").File("only-a/child", "c");
        var b = new MemoryFileSystem("B").File("bad-\udcff", "y").File("new\nline", "1", mode: 0b111_101_101);
        var diffs = Differ.Compare(a, b);
        Assert.Equal(
            "bad-\\xff: content differs at byte 0\n" +
            "new\\nline: mode differs: 0644 in A, 0755 in B\n" +
            "only-a: only in A (directory)\n",
            Differ.Render(diffs));
    }

    [Fact]
    public void WalksMergeInPathOrderWithUnicodeAndSeparatorTraps()
    {
        // "a/x" sorts before "a-b" (component-wise); a string compare would misalign the merge.
        var a = new MemoryFileSystem("A").Dir("a").File("a/x", "1").File("a-b", "2").File("\u00e9", "3").File("e\u0301", "4");
        var b = new MemoryFileSystem("B").Dir("a").File("a/x", "1").File("a-b", "2").File("\u00e9", "3").File("z", "5");
        var diffs = Differ.Compare(a, b);
        Assert.Equal(new[] { ("e\u0301", DifferenceKind.OnlyInA), ("z", DifferenceKind.OnlyInB) }, diffs.Select(d => (d.Path, d.Kind)));
    }

    [Fact]
    public void SparseFilesWithDifferentHolesButSameBytesAreEqual()
    {
        var data = new byte[1 << 20];
        data[5] = 1;
        var a = new MemoryFileSystem("A").Add(new Entry { Path = "f", Type = EntryType.Regular, Mode = 0b110_100_100, IsSparse = true }, data, new[] { new DataExtent(0, 4096) });
        var b = new MemoryFileSystem("B").File("f", data);
        Assert.Empty(Differ.Compare(a, b));
        var c = (byte[])data.Clone();
        c[900_000] = 2;
        var d = new MemoryFileSystem("C").File("f", c);
        Assert.Equal("f: content differs at byte 900000", Differ.Render(Differ.Compare(a, d).Single()));
    }

    [Fact]
    public void AWalkOutOfOrderIsNamedNotMisreported()
    {
        var a = new MemoryFileSystem("broken reader") { RawOrder = true }.File("b", "1").File("a", "2");
        var b = new MemoryFileSystem("B").File("a", "2").File("b", "1");
        var e = Assert.Throws<ZarFormatException>(() => Differ.Compare(a, b));
        Assert.Equal("broken reader: entries out of order: a after b", e.Message);
    }

    [Fact]
    public void ADirectoryReplacedByAFileIsOneLine()
    {
        var a = new MemoryFileSystem("A").Dir("d").File("d/x", "1").Dir("d/sub").File("d/sub/y", "2").File("e", "3");
        var b = new MemoryFileSystem("B").File("d", "1").File("e", "3");
        Assert.Equal("d: type differs: directory in A, file, 1 byte in B\n", Differ.Render(Differ.Compare(a, b)));
        Assert.Equal("d: type differs: file, 1 byte in A, directory in B\n", Differ.Render(Differ.Compare(b, a)));
    }
}
