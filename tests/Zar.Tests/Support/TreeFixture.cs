using System.Buffers.Binary;
using System.Text;
using Zar.Model;
using Zar.Native;

namespace Zar.Tests.Support;

public sealed record TreeOptions
{
    /// <summary>Add a sparse file over 2 GiB (offsets past 2^31; little disk used).</summary>
    public bool Large { get; init; }
    /// <summary>Devices, chown, trusted.* and security.capability need root; default: when running as root.</summary>
    public bool Privileged { get; init; } = Libc.geteuid() == 0;
    public int Seed { get; init; } = 20261123;
    /// <summary>tar (GNU and bsdtar) cannot archive sockets; trees meant for tar can leave it out.</summary>
    public bool Socket { get; init; } = true;
}

/// <summary>
/// Builds the "every case" host tree the tests convert, extract and compare. Everything is created
/// through byte-path libc calls so names that are not valid UTF-8 come out exactly as intended.
/// Deterministic: same options, same tree (contents, names, modes, owners, xattrs, mtimes).
/// </summary>
public static unsafe class TreeFixture
{
    // Paths tests refer to (normalized, relative to the tree root).
    public const string Empty = "files/empty";
    public const string OneByte = "files/one";
    public const string File4095 = "files/f4095";
    public const string File4096 = "files/f4096";
    public const string File4097 = "files/f4097";
    public const string BigFile = "files/big";
    public const string SmallSparse = "files/sparse-small";
    public const string LargeSparse = "files/sparse-large";
    public const string AllHole = "files/all-hole";
    public const string Setuid = "files/setuid";
    public const string Setgid = "files/setgid";
    public const string Capability = "files/cap";
    public const string XattrFile = "files/xattrs";
    public const string MaxOwnerFile = "files/owner-max";
    public const string FutureFile = "files/future";
    public const string EmptyDir = "empty-dir";
    public const string SetgidDir = "dirs/setgid";
    public const string StickyDir = "dirs/sticky";
    public const string ReadOnlyDir = "dirs/readonly";
    public const string XattrDir = "dirs/xattrs";
    public const string MaxOwnerDir = "dirs/owner-max";
    public const string RelativeLink = "links/relative";
    public const string DanglingLink = "links/dangling";
    public const string AbsoluteLink = "links/absolute";
    public const string LongLink = "links/long";
    public const string DirLink = "links/to-dir";
    public static readonly string[] HardlinkGroup = { "hard/h1", "hard/a/h2", "hard/b/h3" };
    public const string CharDevice = "nodes/char-1-3";
    public const string BlockDevice = "nodes/block-8-0";
    public const string Fifo = "nodes/fifo";
    public const string Socket = "nodes/socket";
    public const string NfcName = "names/caf\u00e9";
    public const string NfdName = "names/cafe\u0301";
    public const string SpaceName = "names/with space";
    public const string NewlineName = "names/new\nline";
    /// <summary>255 bytes: 127 two-byte characters and one ASCII.</summary>
    public static readonly string LongName = "names/" + string.Concat(Enumerable.Repeat("\u00e9", 127)) + "x";
    /// <summary>"bad-" then bytes 0xff 0xfe (not UTF-8), carried as lone surrogates.</summary>
    public const string NonUtf8Name = "names/bad-\udcff\udcfe";
    public static readonly string DeepLeaf = string.Join('/', Enumerable.Range(1, 30).Select(i => $"d{i:D2}").Prepend("deep")) + "/leaf";

    public const long NegativeMtimeSeconds = -1234567890;
    public const uint NegativeMtimeNanoseconds = 123456789;
    public const uint MaxId = 2147483647;
    public const long LargeSparseSize = (2L << 30) + 12345;

    /// <summary>A valid v2 file capability: cap_net_raw, permitted + effective.</summary>
    public static byte[] CapNetRaw()
    {
        var v = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(v, 0x02000000 | 1); // VFS_CAP_REVISION_2 | effective
        BinaryPrimitives.WriteUInt32LittleEndian(v.AsSpan(4), 1u << 13); // CAP_NET_RAW
        return v;
    }

    public static readonly byte[] BinaryXattr = { 0x00, 0xff, 0x01, 0x41, 0x00, 0xfe };

    /// <summary>Creates the tree in <paramref name="dir"/> (created if missing; must be empty). Without
    /// <see cref="TreeOptions.Privileged"/> the devices, chowns, trusted.* and security.capability are left out.</summary>
    public static void CreateEverything(string dir, TreeOptions? options = null)
    {
        var o = options ?? new TreeOptions();
        var b = new Builder(dir, o.Seed);
        Directory.CreateDirectory(dir);

        b.Dir("files");
        b.File(Empty, 0);
        b.File(OneByte, 1);
        b.File(File4095, 4095);
        b.File(File4096, 4096);
        b.File(File4097, 4097);
        b.File(BigFile, 3 * 1024 * 1024 + 17); // spans several 1 MiB copy buffers
        b.Sparse(SmallSparse, 10 << 20, (1 << 20, 4096), (6 << 20, 8192));
        b.Sparse(AllHole, 1 << 20);
        if (o.Large) b.Sparse(LargeSparse, LargeSparseSize, (0, 4096), (1L << 30, 65536), ((2L << 30) + 4096, 4096));
        b.File(Setuid, 100, mode: 0b100_111_101_101); // 04755
        b.File(Setgid, 100, mode: 0b010_111_101_101); // 02755
        b.File(XattrFile, 10);
        b.Xattr(XattrFile, "user.binary", BinaryXattr);
        b.Xattr(XattrFile, "user.empty", Array.Empty<byte>());
        b.Xattr(XattrFile, "user.text", "hello"u8.ToArray());
        b.File(FutureFile, 5);
        b.Mtime(FutureFile, 4102444800, 999999999); // 2100-01-01, past 2^32
        b.Mtime(OneByte, NegativeMtimeSeconds, NegativeMtimeNanoseconds);
        if (o.Privileged)
        {
            b.File(Capability, 64, mode: 0b111_101_101);
            b.Xattr(Capability, "security.capability", CapNetRaw());
            b.File(MaxOwnerFile, 7);
            b.Owner(MaxOwnerFile, MaxId, MaxId);
        }

        b.Dir(EmptyDir);
        b.Dir("dirs");
        b.Dir(SetgidDir, 0b010_111_111_101); // 02775
        b.Dir(StickyDir, 0b001_111_111_111); // 01777
        b.File(StickyDir + "/inside", 3);
        b.Dir(ReadOnlyDir, 0b101_101_101); // 0555, applied after its children exist
        b.File(ReadOnlyDir + "/a", 10);
        b.File(ReadOnlyDir + "/b", 0);
        b.Dir(ReadOnlyDir + "/sub", 0b101_101_101);
        b.File(ReadOnlyDir + "/sub/c", 20, mode: 0b100_100_100);
        b.Dir(XattrDir);
        b.Xattr(XattrDir, "user.dir", "d"u8.ToArray());
        b.Xattr(XattrDir, "user.empty", Array.Empty<byte>());
        if (o.Privileged) b.Xattr(XattrDir, "trusted.zar-test", "t\0rusted"u8.ToArray());
        b.File(XattrDir + "/child", 1);
        if (o.Privileged)
        {
            b.Dir(MaxOwnerDir);
            b.Owner(MaxOwnerDir, MaxId, MaxId);
        }

        b.Dir("links");
        b.Symlink(RelativeLink, "../files/one");
        b.Symlink(DanglingLink, "does/not/exist");
        b.Symlink(AbsoluteLink, "/etc/passwd");
        b.Symlink(LongLink, string.Concat(Enumerable.Range(0, 400).Select(i => $"seg{i:D5}/"))[..3000]);
        b.Symlink(DirLink, "../dirs");
        if (o.Privileged) b.Owner(RelativeLink, 65534, 65534);

        b.Dir("hard");
        b.Dir("hard/a");
        b.Dir("hard/b");
        b.File(HardlinkGroup[0], 4097, mode: 0b110_100_000);
        b.Xattr(HardlinkGroup[0], "user.linked", "yes"u8.ToArray());
        if (o.Privileged) b.Owner(HardlinkGroup[0], 1000, 1000);
        b.Link(HardlinkGroup[0], HardlinkGroup[1]);
        b.Link(HardlinkGroup[0], HardlinkGroup[2]);

        b.Dir("nodes");
        if (o.Privileged)
        {
            b.Node(CharDevice, Libc.S_IFCHR, 1, 3, 0b110_110_110);
            b.Node(BlockDevice, Libc.S_IFBLK, 8, 0, 0b110_110_000);
        }
        b.Node(Fifo, Libc.S_IFIFO, 0, 0, 0b110_100_100);
        if (o.Socket) b.Node(Socket, Libc.S_IFSOCK, 0, 0, 0b111_101_101);

        b.Dir("names");
        b.File(NfcName, 11);
        b.File(NfdName, 12);
        b.File(SpaceName, 13);
        b.File(NewlineName, 14);
        b.File(LongName, 15);
        b.File(NonUtf8Name, 16);
        b.Dir("names/bad-dir-\udc80");
        b.File("names/bad-dir-\udc80/inner", 3);
        // Walk-order traps: '/' sorts before every byte, so "order/a/x" comes before "order/a-b".
        b.Dir("names/order");
        b.Dir("names/order/a");
        b.File("names/order/a/x", 1);
        b.File("names/order/a-b", 1);
        b.File("names/order/a.b", 1);
        b.File("names/order/a0", 1);
        b.File("names/order/\u00e0", 1);

        var deep = "deep";
        b.Dir(deep);
        for (int i = 1; i <= 30; i++) b.Dir(deep = $"{deep}/d{i:D2}");
        b.File(DeepLeaf, 30);

        b.Finish();
    }

    /// <summary>A directory with <paramref name="n"/> small files of varied name lengths (many dirent blocks).</summary>
    public static void CreateDirectoryWithManyEntries(string dir, int n)
    {
        Directory.CreateDirectory(dir);
        for (int i = 0; i < n; i++)
        {
            var name = $"entry-{i:D7}" + new string((char)('a' + i % 26), i % 50);
            System.IO.File.WriteAllText(Path.Combine(dir, name), i.ToString());
        }
    }

    sealed class Builder(string root, int seed)
    {
        readonly Random _random = new(seed);
        readonly List<string> _paths = new();
        readonly Dictionary<string, uint> _modes = new();
        readonly Dictionary<string, (long, uint)> _mtimes = new();
        readonly List<(string Path, uint Uid, uint Gid)> _owners = new();
        readonly List<(string Path, string Name, byte[] Value)> _xattrs = new();
        readonly HashSet<string> _symlinks = new();

        byte[] Z(string rel) => Libc.Z(root + "/" + rel);

        void Created(string rel, uint mode)
        {
            _paths.Add(rel);
            _modes[rel] = mode;
        }

        static void Check(int rc, string what, string rel)
        {
            if (rc != 0) throw new InvalidOperationException($"fixture: {what} {ZarPath.Display(rel)}: {Libc.ErrorText(Libc.Errno)}");
        }

        public void Dir(string rel, uint mode = 0b111_101_101)
        {
            fixed (byte* p = Z(rel)) Check(Libc.mkdirat(Libc.AT_FDCWD, p, 0b111_000_000), "mkdir", rel);
            Created(rel, mode);
        }

        public void File(string rel, int size, uint mode = 0b110_100_100)
        {
            var data = new byte[size];
            _random.NextBytes(data);
            Write(rel, size, (0, data));
            Created(rel, mode);
        }

        public void Sparse(string rel, long size, params (long Offset, int Length)[] blocks)
        {
            Write(rel, size, blocks.Select(x => { var d = new byte[x.Length]; _random.NextBytes(d); return (x.Offset, d); }).ToArray());
            Created(rel, 0b110_100_100);
        }

        void Write(string rel, long size, params (long Offset, byte[] Data)[] blocks)
        {
            int fd;
            fixed (byte* p = Z(rel)) fd = Libc.open(p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC, 0b110_000_000);
            if (fd < 0) Check(-1, "create", rel);
            try
            {
                foreach (var (off, data) in blocks)
                    fixed (byte* d = data)
                        if (data.Length > 0 && Libc.pwrite(fd, d, data.Length, off) != data.Length) Check(-1, "write", rel);
                Check(Libc.ftruncate(fd, size), "truncate", rel);
            }
            finally { Libc.close(fd); }
        }

        public void Symlink(string rel, string target)
        {
            fixed (byte* t = Libc.Z(target)) fixed (byte* p = Z(rel)) Check(Libc.symlinkat(t, Libc.AT_FDCWD, p), "symlink", rel);
            _paths.Add(rel);
            _symlinks.Add(rel);
        }

        public void Link(string existing, string rel)
        {
            fixed (byte* o = Z(existing)) fixed (byte* p = Z(rel)) Check(Libc.linkat(Libc.AT_FDCWD, o, Libc.AT_FDCWD, p, 0), "link", rel);
            _paths.Add(rel);
        }

        public void Node(string rel, uint type, uint major, uint minor, uint mode)
        {
            fixed (byte* p = Z(rel)) Check(Libc.mknodat(Libc.AT_FDCWD, p, type | 0b110_000_000, Libc.MakeDev(major, minor)), "mknod", rel);
            Created(rel, mode);
        }

        public void Owner(string rel, uint uid, uint gid) => _owners.Add((rel, uid, gid));
        public void Xattr(string rel, string name, byte[] value) => _xattrs.Add((rel, name, value));
        public void Mtime(string rel, long sec, uint nsec) => _mtimes[rel] = (sec, nsec);

        public void Finish()
        {
            // chown first (it clears setuid/setgid and capabilities), then modes, then xattrs,
            // then mtimes children-first so creating and changing entries cannot disturb them.
            foreach (var (rel, uid, gid) in _owners)
                fixed (byte* p = Z(rel)) Check(Libc.fchownat(Libc.AT_FDCWD, p, uid, gid, Libc.AT_SYMLINK_NOFOLLOW), "chown", rel);
            foreach (var (rel, mode) in _modes)
                fixed (byte* p = Z(rel)) Check(Libc.fchmodat(Libc.AT_FDCWD, p, mode, 0), "chmod", rel);
            fixed (byte* p = Libc.Z(root)) Check(Libc.fchmodat(Libc.AT_FDCWD, p, 0b111_101_101, 0), "chmod", "");
            foreach (var (rel, name, value) in _xattrs)
                fixed (byte* p = Z(rel)) fixed (byte* n = Libc.Z(name)) fixed (byte* v = value.Length == 0 ? new byte[1] : value)
                    Check(Libc.lsetxattr(p, n, v, value.Length, 0), $"setxattr {name}", rel);

            var all = _paths.Distinct().OrderBy(p => p, ZarPath.PathComparer).Prepend("").ToList();
            var ts = stackalloc Libc.Timespec[2];
            for (int i = all.Count - 1; i >= 0; i--)
            {
                var rel = all[i];
                var (sec, nsec) = _mtimes.TryGetValue(rel, out var t) ? t : (1_600_000_000L + i * 3607, (uint)((i * 7919L * 1000003) % 1_000_000_000));
                ts[0] = new Libc.Timespec { tv_sec = 0, tv_nsec = Libc.UTIME_OMIT };
                ts[1] = new Libc.Timespec { tv_sec = sec, tv_nsec = nsec };
                fixed (byte* p = rel.Length == 0 ? Libc.Z(root) : Z(rel))
                    Check(Libc.utimensat(Libc.AT_FDCWD, p, ts, Libc.AT_SYMLINK_NOFOLLOW), "utimens", rel);
            }
        }
    }
}
