using System.Runtime.InteropServices;

namespace Zar.Fuse;

// The FUSE kernel protocol, as the kernel's include/uapi/linux/fuse.h defines it (protocol 7.x). Every
// message starts with a header; the structs below are the fixed parts, in the header's field order and
// sizes, little-endian native layout. Only what a read-only server reads or writes is here.

/// <summary>Request opcodes (enum fuse_opcode).</summary>
enum FuseOpcode : uint
{
    Lookup = 1,
    Forget = 2,
    GetAttr = 3,
    SetAttr = 4,
    ReadLink = 5,
    Symlink = 6,
    MkNod = 8,
    MkDir = 9,
    Unlink = 10,
    RmDir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    StatFs = 17,
    Release = 18,
    FSync = 20,
    SetXattr = 21,
    GetXattr = 22,
    ListXattr = 23,
    RemoveXattr = 24,
    Flush = 25,
    Init = 26,
    OpenDir = 27,
    ReadDir = 28,
    ReleaseDir = 29,
    FSyncDir = 30,
    GetLk = 31,
    SetLk = 32,
    SetLkW = 33,
    Access = 34,
    Create = 35,
    Interrupt = 36,
    BMap = 37,
    Destroy = 38,
    IoCtl = 39,
    Poll = 40,
    NotifyReply = 41,
    BatchForget = 42,
    FAllocate = 43,
    ReadDirPlus = 44,
    Rename2 = 45,
    LSeek = 46,
    CopyFileRange = 47,
    SetupMapping = 48,
    RemoveMapping = 49,
    SyncFs = 50,
    TmpFile = 51,
    Statx = 52,
}

/// <summary>INIT flags (fuse_init_in/out.flags; bits 32..63 travel in flags2).</summary>
static class FuseInitFlags
{
    public const ulong AsyncRead = 1UL << 0;
    public const ulong AtomicOTrunc = 1UL << 3;
    public const ulong BigWrites = 1UL << 5;
    public const ulong AutoInvalData = 1UL << 12;
    public const ulong DoReaddirplus = 1UL << 13;
    public const ulong ReaddirplusAuto = 1UL << 14;
    public const ulong ParallelDirops = 1UL << 18;
    public const ulong MaxPages = 1UL << 22;
    public const ulong CacheSymlinks = 1UL << 23;
    public const ulong NoOpendirSupport = 1UL << 24;
    public const ulong InitExt = 1UL << 30;
    public const ulong Passthrough = 1UL << 37;
}

/// <summary>fuse_open_out.open_flags.</summary>
static class FuseOpenFlags
{
    public const uint DirectIo = 1 << 0;
    public const uint KeepCache = 1 << 1;
    public const uint CacheDir = 1 << 3;
    public const uint Passthrough = 1 << 7;
}

static class FuseConstants
{
    public const uint KernelVersion = 7;
    /// <summary>The newest minor version this server speaks (7.40 added passthrough).</summary>
    public const uint KernelMinorVersion = 40;
    public const ulong RootId = 1;
    /// <summary>The kernel refuses a read(2) of /dev/fuse into a smaller buffer.</summary>
    public const int MinReadBuffer = 8192;
    /// <summary>FUSE_DEV_IOC_CLONE = _IOR(229, 0, uint32_t).</summary>
    public const uint DevIocClone = 0x8004E500;
    /// <summary>FUSE_DEV_IOC_BACKING_OPEN = _IOW(229, 1, struct fuse_backing_map).</summary>
    public const uint DevIocBackingOpen = 0x4010E501;
    /// <summary>FUSE_DEV_IOC_BACKING_CLOSE = _IOW(229, 2, uint32_t).</summary>
    public const uint DevIocBackingClose = 0x4004E502;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseInHeader
{
    public uint Len;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    /// <summary>Length of extensions in 8-byte units.</summary>
    public ushort TotalExtLen;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseOutHeader
{
    public uint Len;
    /// <summary>0 or a negated errno.</summary>
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseEntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseForgetIn
{
    public ulong NLookup;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseForgetOne
{
    public ulong NodeId;
    public ulong NLookup;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseBatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseGetAttrIn
{
    public uint GetAttrFlags;
    public uint Dummy;
    public ulong Fh;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseOpenIn
{
    public uint Flags;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseOpenOut
{
    public ulong Fh;
    public uint OpenFlags;
    public int BackingId;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseReleaseIn
{
    public ulong Fh;
    public uint Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseKStatFs
{
    public ulong Blocks;
    public ulong BFree;
    public ulong BAvail;
    public ulong Files;
    public ulong FFree;
    public uint BSize;
    public uint NameLen;
    public uint FrSize;
    public uint Padding;
    public unsafe fixed uint Spare[6];
}

[StructLayout(LayoutKind.Sequential)]
struct FuseGetXattrIn
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseGetXattrOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseAccessIn
{
    public uint Mask;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public unsafe fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential)]
struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public uint MaxStackDepth;
    public unsafe fixed uint Unused[6];
}

[StructLayout(LayoutKind.Sequential)]
struct FuseInterruptIn
{
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseLSeekIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Whence;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
struct FuseLSeekOut
{
    public ulong Offset;
}

/// <summary>A directory record of READDIR; the name follows, the record is padded to 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
struct FuseDirent
{
    public ulong Ino;
    /// <summary>The offset of the next record (what the kernel passes back to continue).</summary>
    public ulong Off;
    public uint NameLen;
    /// <summary>DT_* (the file type bits of st_mode shifted right by 12).</summary>
    public uint Type;
}

/// <summary>A record of READDIRPLUS: the entry (as LOOKUP answers it) then the dirent.</summary>
[StructLayout(LayoutKind.Sequential)]
struct FuseDirentPlus
{
    public FuseEntryOut EntryOut;
    public FuseDirent Dirent;
}

/// <summary>The argument of FUSE_DEV_IOC_BACKING_OPEN.</summary>
[StructLayout(LayoutKind.Sequential)]
struct FuseBackingMap
{
    public int Fd;
    public uint Flags;
    public ulong Padding;
}
