using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Zar.Model;
using Zar.Native;
using Zar.Sources.Images;
using Zar.Tests.Support;
using SysTarEntry = System.Formats.Tar.TarEntry;
using Zar.Oci;

namespace Zar.Tests.Sources.Layers;

/// <summary>Writes a layer tar member by member with System.Formats.Tar (PAX), names exactly as given.</summary>
public sealed class LayerTarBuilder
{
    static readonly DateTimeOffset DefaultTime = new(2023, 4, 5, 6, 7, 8, TimeSpan.Zero);
    readonly List<SysTarEntry> _entries = new();
    readonly List<byte[]?> _data = new();
    /// <summary>Names of hardlink members and their targets (for the reference extraction's copy-up).</summary>
    public List<(string Name, string Target)> Hardlinks { get; } = new();

    PaxTarEntry Make(TarEntryType type, string name, int mode, int uid, int gid, DateTimeOffset? mtime, Dictionary<string, string>? xattrs)
    {
        var pax = new Dictionary<string, string>();
        if (xattrs != null) foreach (var (k, v) in xattrs) pax["SCHILY.xattr." + k] = v;
        var e = new PaxTarEntry(type, name, pax)
        {
            Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = mtime ?? DefaultTime,
        };
        return e;
    }

    public LayerTarBuilder File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? xattrs = null)
        => FileBytes(name, Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime, xattrs);

    public LayerTarBuilder FileBytes(string name, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? xattrs = null)
    {
        _entries.Add(Make(TarEntryType.RegularFile, name, mode, uid, gid, mtime, xattrs));
        _data.Add(content);
        return this;
    }

    public LayerTarBuilder Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0)
    {
        _entries.Add(Make(TarEntryType.Directory, name.EndsWith('/') ? name : name + "/", mode, uid, gid, null, null));
        _data.Add(null);
        return this;
    }

    public LayerTarBuilder Symlink(string name, string target)
    {
        var e = Make(TarEntryType.SymbolicLink, name, 0x1FF, 0, 0, null, null);
        e.LinkName = target;
        _entries.Add(e);
        _data.Add(null);
        return this;
    }

    public LayerTarBuilder Hardlink(string name, string target, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? xattrs = null)
    {
        var e = Make(TarEntryType.HardLink, name, mode, uid, gid, mtime, xattrs);
        e.LinkName = target;
        _entries.Add(e);
        _data.Add(null);
        Hardlinks.Add((name, target));
        return this;
    }

    public LayerTarBuilder CharDevice(string name, int major, int minor, int mode = 0x1B6)
    {
        var e = Make(TarEntryType.CharacterDevice, name, mode, 0, 0, null, null);
        e.DeviceMajor = major;
        e.DeviceMinor = minor;
        _entries.Add(e);
        _data.Add(null);
        return this;
    }

    public LayerTarBuilder Fifo(string name, int mode = 0x1A4)
    {
        _entries.Add(Make(TarEntryType.Fifo, name, mode, 0, 0, null, null));
        _data.Add(null);
        return this;
    }

    public LayerTarBuilder Whiteout(string dir, string name) => File(ZarPath.Join(dir, ".wh." + name), "", mode: 0);

    public LayerTarBuilder Opaque(string dir) => File(ZarPath.Join(dir, ".wh..wh..opq"), "", mode: 0);

    public byte[] Build()
    {
        var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
            for (int i = 0; i < _entries.Count; i++)
            {
                if (_data[i] is { } d) _entries[i].DataStream = new MemoryStream(d);
                w.WriteEntry(_entries[i]);
            }
        return ms.ToArray();
    }
}

public enum Compression { None, Gzip, Zstd }

public static class Compress
{
    public static byte[] Apply(byte[] tar, Compression c)
    {
        switch (c)
        {
            case Compression.Gzip:
                {
                    var ms = new MemoryStream();
                    using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(tar);
                    return ms.ToArray();
                }
            case Compression.Zstd:
                {
                    var ms = new MemoryStream();
                    using (var z = new ZstdSharp.CompressionStream(ms, 3, leaveOpen: true)) z.Write(tar);
                    return ms.ToArray();
                }
            default: return tar;
        }
    }
}

/// <summary>An image whose layers are files on disk, with an empty config (isolates the merge from image formats).</summary>
public sealed class FileLayersSource(IReadOnlyList<string> layerFiles) : IImageSource
{
    public string Description => "test layers";
    public ImageConfig Config { get; } = ImageConfig.Empty();
    public IReadOnlyList<ImageLayer> Layers { get; } = layerFiles.Select((f, i) =>
        new ImageLayer(null, "application/vnd.oci.image.layer.v1.tar", new FileInfo(f).Length, null, $"layer {i + 1}", () => File.OpenRead(f))).ToList();
    public string? ManifestDigest => null;
    public void Dispose() { }
}

public static class TreeAssert
{
    /// <summary>
    /// Asserts two trees hold the same names with the same type, mode, owner, size, content, link target,
    /// device numbers, xattrs and hardlink groups (and mtimes of non-directories when asked).
    /// </summary>
    public static void Equal(IReadOnlyFileSystem expected, IReadOnlyFileSystem actual, bool compareMtimes = true, bool compareRoot = true)
    {
        var exp = expected.Walk().ToDictionary(e => e.Path);
        var act = actual.Walk().ToDictionary(e => e.Path);
        var missing = exp.Keys.Except(act.Keys).OrderBy(x => x, StringComparer.Ordinal).ToList();
        var extra = act.Keys.Except(exp.Keys).OrderBy(x => x, StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"{actual.Description} vs {expected.Description}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
        foreach (var (path, e) in exp)
        {
            var a = act[path];
            var what = $"'{path}'";
            Assert.True(e.Type == a.Type, $"{what}: type {a.Type}, expected {e.Type}");
            if (path.Length > 0 || compareRoot)
            {
                Assert.True(e.Mode == a.Mode, $"{what}: mode {Convert.ToString(a.Mode, 8)}, expected {Convert.ToString(e.Mode, 8)}");
                Assert.True(e.Uid == a.Uid && e.Gid == a.Gid, $"{what}: owner {a.Uid}:{a.Gid}, expected {e.Uid}:{e.Gid}");
            }
            Assert.True(Xattrs(e) == Xattrs(a), $"{what}: xattrs [{Xattrs(a)}], expected [{Xattrs(e)}]");
            if (compareMtimes && e.Type != EntryType.Directory)
                Assert.True(e.MtimeSeconds == a.MtimeSeconds && e.MtimeNanoseconds == a.MtimeNanoseconds,
                    $"{what}: mtime {a.MtimeSeconds}.{a.MtimeNanoseconds:D9}, expected {e.MtimeSeconds}.{e.MtimeNanoseconds:D9}");
            switch (e.Type)
            {
                case EntryType.Regular:
                    Assert.True(e.Size == a.Size, $"{what}: size {a.Size}, expected {e.Size}");
                    Assert.True(expected.ReadAllBytes(e).AsSpan().SequenceEqual(actual.ReadAllBytes(a)), $"{what}: content differs");
                    break;
                case EntryType.Symlink:
                    Assert.True(e.LinkTarget == a.LinkTarget, $"{what}: link target '{a.LinkTarget}', expected '{e.LinkTarget}'");
                    break;
                case EntryType.CharDevice or EntryType.BlockDevice:
                    Assert.True(e.DevMajor == a.DevMajor && e.DevMinor == a.DevMinor, $"{what}: device {a.DevMajor}:{a.DevMinor}, expected {e.DevMajor}:{e.DevMinor}");
                    break;
            }
        }
        Assert.Equal(Groups(expected), Groups(actual));
    }

    static string Xattrs(Entry e) => string.Join(",", e.Xattrs.Where(x => !x.Name.StartsWith("security.", StringComparison.Ordinal)));

    /// <summary>Hardlink groups (names sharing an inode), as sorted name lists.</summary>
    public static List<string> Groups(IReadOnlyFileSystem fs) =>
        fs.Walk().Where(e => e.Type == EntryType.Regular).GroupBy(e => e.Inode).Where(g => g.Count() > 1)
            .Select(g => string.Join(" = ", g.Select(x => x.Path).OrderBy(x => x, StringComparer.Ordinal)))
            .OrderBy(x => x, StringComparer.Ordinal).ToList();
}

/// <summary>Overlay mounts made by a test, unmounted (in reverse) on dispose.</summary>
public sealed class Mounts : IDisposable
{
    readonly List<string> _points = new();

    public string Overlay(string mountPoint, IEnumerable<string> lowerTopFirst)
    {
        Directory.CreateDirectory(mountPoint);
        var r = Tools.Run("mount", ["-t", "overlay", "overlay", "-o", "ro,lowerdir=" + string.Join(':', lowerTopFirst), mountPoint]);
        Assert.True(r.Code == 0, $"mount overlay failed: {r.Err}");
        _points.Add(mountPoint);
        return mountPoint;
    }

    public void Dispose()
    {
        for (int i = _points.Count - 1; i >= 0; i--) Tools.Run("umount", [_points[i]]);
    }
}

/// <summary>Writes a tree (an IReadOnlyFileSystem) to a host directory, owners, modes, xattrs, devices and hardlinks included.</summary>
public static unsafe class Materialize
{
    public static void To(IReadOnlyFileSystem fs, string dest)
    {
        Directory.CreateDirectory(dest);
        var firstName = new Dictionary<long, string>();
        var dirs = new List<Entry>();
        foreach (var e in fs.Walk())
        {
            var full = Path.Combine(dest, e.Path);
            switch (e.Type)
            {
                case EntryType.Directory:
                    Directory.CreateDirectory(full);
                    dirs.Add(e);
                    continue;
                case EntryType.Regular:
                    if (e.LinkCount > 1 && firstName.TryGetValue(e.Inode, out var first))
                    {
                        fixed (byte* from = Libc.Z(Path.Combine(dest, first))) fixed (byte* to = Libc.Z(full))
                            Check(Libc.linkat(Libc.AT_FDCWD, from, Libc.AT_FDCWD, to, 0), "link", full);
                        continue;
                    }
                    firstName[e.Inode] = e.Path;
                    using (var o = File.Create(full)) fs.OpenRead(e).CopyTo(o);
                    break;
                case EntryType.Symlink: File.CreateSymbolicLink(full, e.LinkTarget!); break;
                case EntryType.CharDevice or EntryType.BlockDevice or EntryType.Fifo:
                    fixed (byte* node = Libc.Z(full))
                        Check(Libc.mknodat(Libc.AT_FDCWD, node, e.UnixMode, Libc.MakeDev(e.DevMajor, e.DevMinor)), "mknod", full);
                    break;
            }
            Attributes(e, full);
        }
        // Directories last: their modes may forbid writing into them, their times change as children are added.
        for (int i = dirs.Count - 1; i >= 0; i--) Attributes(dirs[i], Path.Combine(dest, dirs[i].Path));
    }

    static void Check(int rc, string what, string path)
    {
        if (rc != 0) throw new Exception($"{what} {path}: {Libc.ErrorText(Libc.Errno)}");
    }

    static void Attributes(Entry e, string full)
    {
        var z = Libc.Z(full);
        fixed (byte* p = z)
        {
            Check(Libc.fchownat(Libc.AT_FDCWD, p, e.Uid, e.Gid, Libc.AT_SYMLINK_NOFOLLOW), "chown", full);
            if (e.Type != EntryType.Symlink) Check(Libc.fchmodat(Libc.AT_FDCWD, p, e.Mode, 0), "chmod", full);
            foreach (var x in e.Xattrs)
            {
                var name = Libc.Z(x.Name);
                fixed (byte* n = name) fixed (byte* v = x.Value)
                    Check(Libc.lsetxattr(p, n, v, x.Value.Length, 0), "setxattr " + x.Name, full);
            }
            var times = stackalloc Libc.Timespec[2];
            times[0] = new Libc.Timespec { tv_sec = e.MtimeSeconds, tv_nsec = e.MtimeNanoseconds };
            times[1] = times[0];
            Check(Libc.utimensat(Libc.AT_FDCWD, p, times, Libc.AT_SYMLINK_NOFOLLOW), "utimensat", full);
        }
    }

    public static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
