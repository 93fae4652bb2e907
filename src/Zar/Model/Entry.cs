namespace Zar.Model;

public enum EntryType : byte
{
    Regular = 1,
    Directory = 2,
    Symlink = 3,
    /// <summary>Only in entry streams (tar): a second name for the earlier entry named by LinkTarget.
    /// Filesystem readers report every name of a hardlinked file as Regular (or its own type) sharing one <see cref="Entry.Inode"/>.</summary>
    Hardlink = 4,
    CharDevice = 5,
    BlockDevice = 6,
    Fifo = 7,
    Socket = 8,
}

/// <summary>An extended attribute. Values are binary and may be empty.</summary>
public readonly record struct Xattr(string Name, byte[] Value)
{
    public override string ToString() => $"{Name}={Convert.ToHexString(Value)}";
}

/// <summary>A range of a file that holds data; everything outside every extent is a hole (zeros).</summary>
public readonly record struct DataExtent(long Offset, long Length)
{
    public long End => Offset + Length;

    /// <summary>True when the extents are the whole file in one piece: no holes to keep.</summary>
    public static bool CoverWhole(IReadOnlyList<DataExtent> extents, long size) =>
        size == 0 ? extents.All(x => x.Length == 0) : extents.Count == 1 && extents[0].Offset == 0 && extents[0].Length == size;
}

/// <summary>
/// One entry of a filesystem tree or of an entry stream. Paths are normalized (see <see cref="ZarPath"/>);
/// the root is "".
/// </summary>
public sealed class Entry
{
    public required string Path { get; init; }
    public required EntryType Type { get; init; }
    /// <summary>Permission bits including setuid, setgid and sticky (mask 07777), never the file type.</summary>
    public uint Mode { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public long MtimeSeconds { get; init; }
    /// <summary>0..999,999,999.</summary>
    public uint MtimeNanoseconds { get; init; }
    /// <summary>Logical size for regular files (holes included); 0 for other types.</summary>
    public long Size { get; init; }
    /// <summary>Symlink target (verbatim), or for <see cref="EntryType.Hardlink"/> the path of the earlier entry.</summary>
    public string? LinkTarget { get; init; }
    public uint DevMajor { get; init; }
    public uint DevMinor { get; init; }
    /// <summary>Sorted by name (ordinal bytes), names unique.</summary>
    public IReadOnlyList<Xattr> Xattrs { get; init; } = Array.Empty<Xattr>();
    /// <summary>
    /// The inode number. From a filesystem reader: non-zero, unique per file, shared by every name of a
    /// hardlinked file, stable for the reader's lifetime (see <see cref="IReadOnlyFileSystem"/>). In entry
    /// streams (tar) 0, or a hardlink identity shared by entries of one file.
    /// </summary>
    public long Inode { get; init; }
    /// <summary>Number of names of this file inside the filesystem (1 when unknown or not linked).</summary>
    public uint LinkCount { get; init; } = 1;
    /// <summary>True when the file has holes worth preserving (where they are: <see cref="IReadOnlyFileSystem.GetData"/>).</summary>
    public bool IsSparse { get; init; }

    public string Name => ZarPath.Name(Path);
    public bool IsDirectory => Type == EntryType.Directory;
    public bool IsRegular => Type == EntryType.Regular;

    public byte[]? GetXattr(string name)
    {
        foreach (var x in Xattrs) if (x.Name == name) return x.Value;
        return null;
    }

    /// <summary>Full st_mode: type bits plus permission bits.</summary>
    public uint UnixMode => Mode | Type switch
    {
        EntryType.Regular or EntryType.Hardlink => 0x8000u,
        EntryType.Directory => 0x4000u,
        EntryType.Symlink => 0xA000u,
        EntryType.CharDevice => 0x2000u,
        EntryType.BlockDevice => 0x6000u,
        EntryType.Fifo => 0x1000u,
        EntryType.Socket => 0xC000u,
        _ => 0u,
    };

    public static EntryType TypeFromUnixMode(uint mode) => (mode & 0xF000) switch
    {
        0x8000 => EntryType.Regular,
        0x4000 => EntryType.Directory,
        0xA000 => EntryType.Symlink,
        0x2000 => EntryType.CharDevice,
        0x6000 => EntryType.BlockDevice,
        0x1000 => EntryType.Fifo,
        0xC000 => EntryType.Socket,
        _ => throw new ZarFormatException($"unknown file type in mode 0{Convert.ToString(mode, 8)}"),
    };

    public Entry With(string? path = null, EntryType? type = null, long? size = null, string? linkTarget = null,
        long? inode = null, uint? linkCount = null, IReadOnlyList<Xattr>? xattrs = null, uint? mode = null,
        bool? isSparse = null) => new()
    {
        Path = path ?? Path, Type = type ?? Type, Mode = mode ?? Mode, Uid = Uid, Gid = Gid,
        MtimeSeconds = MtimeSeconds, MtimeNanoseconds = MtimeNanoseconds, Size = size ?? Size,
        LinkTarget = linkTarget ?? LinkTarget, DevMajor = DevMajor, DevMinor = DevMinor,
        Xattrs = xattrs ?? Xattrs, Inode = inode ?? Inode, LinkCount = linkCount ?? LinkCount, IsSparse = isSparse ?? IsSparse,
    };

    public override string ToString() => $"{Type} {ZarPath.Display(Path)}";
}
