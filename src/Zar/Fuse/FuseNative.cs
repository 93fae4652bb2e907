using System.Runtime.InteropServices;

namespace Zar.Fuse;

/// <summary>
/// The system calls the FUSE server and the mount commands make (beyond <see cref="Native.Libc"/>'s file
/// calls): the device's read/writev/ioctl, mount/umount2, and the few process calls a detached server
/// and a container run need.
/// </summary>
static unsafe partial class FuseNative
{
    const string Lib = "libc";

    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11, EACCES = 13, EBUSY = 16,
        EEXIST = 17, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ERANGE = 34, ENOSYS = 38, ENODATA = 61,
        EOPNOTSUPP = 95, ENOTCONN = 107, EROFS = 30, ENXIO = 6, ECONNABORTED = 103, EPROTO = 71, ESTALE = 116, E2BIG = 7;

    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4;
    public const int MNT_FORCE = 1, MNT_DETACH = 2;
    public const int O_RDWR = 2, O_CLOEXEC = 0x80000, O_RDONLY = 0, O_NOFOLLOW = 0x20000;
    public const int SEEK_DATA = 3, SEEK_HOLE = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    [LibraryImport(Lib, SetLastError = true)] public static partial int open(byte* path, int flags, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint read(int fd, void* buf, nuint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint write(int fd, void* buf, nuint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint writev(int fd, IoVec* iov, int iovcnt);
    [LibraryImport(Lib, SetLastError = true)] public static partial int ioctl(int fd, nuint request, void* arg);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mount(byte* source, byte* target, byte* fstype, ulong flags, byte* data);
    [LibraryImport(Lib, SetLastError = true)] public static partial int umount2(byte* target, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int setsid();
    /// <summary>struct statfs is 120 bytes on 64-bit Linux; callers pass a larger buffer and read nothing from it.</summary>
    [LibraryImport(Lib, SetLastError = true)] public static partial int statfs(byte* path, void* buf);
    [LibraryImport(Lib, SetLastError = true)] public static partial int dup2(int oldfd, int newfd);
    [LibraryImport(Lib, SetLastError = true)] public static partial int kill(int pid, int sig);
    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOL_SOCKET = 1, SCM_RIGHTS = 1, SOCK_CLOEXEC = 0x80000;

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    /// <summary>struct cmsghdr; the data (here one int, a descriptor) follows at 16 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    [LibraryImport(Lib, SetLastError = true)] public static partial int socketpair(int domain, int type, int protocol, int* sv);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint recvmsg(int fd, MsgHdr* msg, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fcntl(int fd, int cmd, int arg);
    [LibraryImport(Lib)] public static partial uint geteuid();
    [LibraryImport(Lib)] public static partial uint getuid();
    [LibraryImport(Lib)] public static partial uint getgid();
    [LibraryImport(Lib)] public static partial int getpid();
    [LibraryImport(Lib)] public static partial int isatty(int fd);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>A NUL-terminated copy of a string's bytes (paths, mount options).</summary>
    public static byte[] Z(string s) => Native.Libc.Z(s);
}
