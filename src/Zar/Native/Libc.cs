using System.Runtime.InteropServices;
using Zar.Model;

namespace Zar.Native;

/// <summary>
/// The few libc calls Zar needs, with byte-string paths. Written here rather than taken from a
/// package because .NET's file APIs decode names to UTF-16 (a non-UTF-8 name cannot be opened or
/// even listed faithfully) and expose no xattrs, devices or SEEK_DATA; Tmds.LibC, the one package
/// that wraps these, has not been maintained since 2020.
/// </summary>
internal static unsafe partial class Libc
{
    const string Lib = "libc";

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_EMPTY_PATH = 0x1000;
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2;
    public const int O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_TRUNC = 0x200;
    public const int O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    public const int SEEK_DATA = 3, SEEK_HOLE = 4;
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const int ENOENT = 2, ENXIO = 6, EEXIST = 17, ENOTDIR = 20, ERANGE = 34, ENODATA = 61, ELOOP = 40, ENOTSUP = 95;
    public const long UTIME_OMIT = (1L << 30) - 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp { public long tv_sec; public uint tv_nsec; public int pad; }

    [StructLayout(LayoutKind.Sequential)]
    public struct Statx
    {
        public uint stx_mask, stx_blksize;
        public ulong stx_attributes;
        public uint stx_nlink, stx_uid, stx_gid;
        public ushort stx_mode, pad1;
        public ulong stx_ino, stx_size, stx_blocks, stx_attributes_mask;
        public StatxTimestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
        public uint stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
        public fixed ulong spare[14];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec { public long tv_sec; public long tv_nsec; }

    [LibraryImport(Lib, SetLastError = true)] public static partial int statx(int dirfd, byte* path, int flags, uint mask, out Statx buf);
    [LibraryImport(Lib, SetLastError = true)] public static partial int open(byte* path, int flags, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int openat(int dirfd, byte* path, int flags, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint pread(int fd, byte* buf, nint count, long offset);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint pwrite(int fd, byte* buf, nint count, long offset);
    [LibraryImport(Lib, SetLastError = true)] public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport(Lib, SetLastError = true)] public static partial int ftruncate(int fd, long length);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint fdopendir(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint readdir(nint dir);
    [LibraryImport(Lib, SetLastError = true)] public static partial int closedir(nint dir);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint llistxattr(byte* path, byte* list, nint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint lgetxattr(byte* path, byte* name, byte* value, nint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial int lsetxattr(byte* path, byte* name, byte* value, nint size, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int symlinkat(byte* target, int dirfd, byte* path);
    [LibraryImport(Lib, SetLastError = true)] public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchmod(int fd, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchown(int fd, uint uid, uint gid);
    [LibraryImport(Lib, SetLastError = true)] public static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int unlinkat(int dirfd, byte* path, int flags);

    // ---- Consumers (Extractor, Differ, test fixtures): fd-relative metadata calls ----
    public const int EISDIR = 21, EPERM = 1, EACCES = 13, ENOTEMPTY = 39;
    public const int AT_REMOVEDIR = 0x200;
    public const uint S_IFREG = 0x8000, S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000, S_IFSOCK = 0xC000;
    [LibraryImport(Lib, SetLastError = true)] public static partial int fsetxattr(int fd, byte* name, byte* value, nint size, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int futimens(int fd, Timespec* times);
    [LibraryImport(Lib)] public static partial uint geteuid();
    // ---- end Consumers block ----

    // ---- IO: writeback and data movement ----
    public const uint SYNC_FILE_RANGE_WRITE = 2;
    public const int EINTR = 4;
    [LibraryImport(Lib, SetLastError = true)] public static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);

    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>NUL-terminated byte path for a string path (lossless, see <see cref="ZarPath"/>).</summary>
    public static byte[] Z(string path)
    {
        var b = ZarPath.Encode(path);
        var z = new byte[b.Length + 1];
        b.CopyTo(z, 0);
        return z;
    }

    public static ZarException Error(string what, string path, int errno) =>
        new($"{ZarPath.Display(path)}: {what}: {ErrorText(errno)}");
}
