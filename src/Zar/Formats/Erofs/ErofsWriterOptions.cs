using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Erofs;

public sealed record ErofsWriterOptions
{
    /// <summary>Block sizes the writer takes; below 4096 needs kernel 6.4+ (and erofs-utils 1.7+ to check).</summary>
    public static readonly IReadOnlyList<int> BlockSizes = [512, 1024, 2048, 4096];

    /// <summary>
    /// Bytes per block: 4096 (default, mounts on every kernel since 5.4) or 512, 1024, 2048 (kernel 6.4+).
    /// Smaller blocks waste less on tails and let files point at 512-aligned data such as a tar's.
    /// </summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>
    /// Superblock build time. Compact inodes show it as their mtime, so by default it is the most
    /// common mtime of the tree (deterministic, and the most inodes can be compact).
    /// </summary>
    public long? BuildTime { get; init; }
    public uint BuildTimeNanoseconds { get; init; }

    /// <summary>16 bytes; default: derived from a hash of the tree's metadata (deterministic).</summary>
    public byte[]? Uuid { get; init; }

    /// <summary>At most 15 bytes (older kernels need a NUL terminator).</summary>
    public string? VolumeName { get; init; }

    /// <summary>Store file/directory/symlink tails right after their inode (FLAT_INLINE).</summary>
    public bool InlineData { get; init; } = true;

    /// <summary>Store xattrs that several inodes carry once, in the shared xattr area.</summary>
    public bool ShareXattrs { get; init; } = true;

    /// <summary>Store files with holes chunk-based, holes as null chunks instead of zero blocks.</summary>
    public bool SparseFiles { get; init; } = true;

    /// <summary>
    /// Extra devices (the EROFS device table), in table order. A regular file whose bytes (its
    /// <see cref="FileData"/> segments) already lie in these blobs, block-aligned, is not copied: its
    /// chunk indexes point at the device blocks. Every other file is copied into the image as usual.
    /// </summary>
    public IReadOnlyList<ErofsDevice> Devices { get; init; } = [];

    /// <summary>Sees every image byte as it is written (to hash the whole image, e.g. for dm-verity).</summary>
    public IWriteObserver? Observer { get; init; }

    /// <summary>Receives the number of image bytes written so far.</summary>
    public IProgress<long>? Progress { get; init; }

    /// <summary>The planned image may not be larger (checked before anything is written).</summary>
    public long MaxImageBytes { get; init; } = long.MaxValue;
}

/// <summary>How the kernel reaches an extra device's blocks.</summary>
public enum ErofsDeviceMode
{
    /// <summary>
    /// The device stays a file of its own (the <c>mkfs.erofs --tar=i</c> form): the image holds only the
    /// metadata and is mounted with <c>-o device=DEV</c> (a block device, e.g. a loop device of the file;
    /// one per external device, in table order), or read with <see cref="ErofsImage.Open(string, IReadOnlyList{string}?)"/>.
    /// Device blocks count from the start of the file (<see cref="ILocalFileBlob.FilePath"/>), so the
    /// blob must be an <see cref="ILocalFileBlob"/>. The slot maps the device right after the image's end,
    /// as mkfs.erofs does, so <c>cat image device &gt; disk</c> is also a one-file (flat) disk.
    /// </summary>
    External,

    /// <summary>
    /// The device's bytes are written into the image after all other data, at a block address that the
    /// slot records (flat mode): one file, loop-mounted without options (kernel 6.4+). This is the
    /// tarfs <c>layer_block</c>/<c>image_block</c> disk: metadata, then the layer tars.
    /// </summary>
    Embedded,
}

/// <summary>An extra device of the image: a blob whose bytes files may point at.</summary>
public sealed record ErofsDevice(IBlob Blob, ErofsDeviceMode Mode)
{
    /// <summary>Up to 64 bytes naming the device (e.g. a layer digest's hex). Kernels before 6.4 open it
    /// as a device path when no <c>device=</c> is given; later ones ignore it.</summary>
    public string Tag { get; init; } = "";

    /// <summary>Embedded devices: the device starts at a multiple of this many bytes (a multiple of the
    /// block size; Nydus uses 512 KiB). 0: the block size.</summary>
    public long Alignment { get; init; }
}

public sealed record ErofsWriteResult(
    long ImageSize, long Blocks, long Inodes, long CompactInodes, long ExtendedInodes,
    long MetadataBlocks, long DataBlocks, long BuildTime, uint BuildTimeNanoseconds, string Uuid)
{
    public int BlockSize { get; init; } = 4096;
    /// <summary>Regular files whose chunks point at extra devices (not copied), and their stored bytes.</summary>
    public long PointedFiles { get; init; }
    public long PointedBytes { get; init; }
    /// <summary>The device table as written (slot i is device id i + 1).</summary>
    public IReadOnlyList<ErofsDeviceSlot> Devices { get; init; } = [];
}
