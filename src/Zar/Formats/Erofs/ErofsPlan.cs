using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Everything the writer's stages decide about one image, in the order they decide it: the tree
/// (<see cref="ErofsTreeCollector"/>), xattr sharing (<see cref="ErofsSharedXattrs"/>), each inode's form and
/// where its data goes (<see cref="ErofsInodePlanner"/> with an <see cref="IErofsDataPlacement"/>), inode
/// places (<see cref="ErofsInodePacker"/>), block numbers (<see cref="ErofsBlockAllocator"/>), and then the
/// bytes (<see cref="ErofsEmitter"/>).
/// </summary>
sealed class ErofsPlan(IReadOnlyFileSystem source, ErofsWriterOptions options)
{
    public IReadOnlyFileSystem Source { get; } = source;
    public ErofsWriterOptions Options { get; } = options;
    public ErofsGeometry Geometry { get; } = ErofsGeometry.For(options.BlockSize);
    public ErofsDeviceTable Devices { get; } = new(options.Devices, ErofsGeometry.For(options.BlockSize));

    public List<ErofsNode> Nodes { get; } = [];
    public ErofsNode Root = null!;

    public long BuildTime;
    public uint BuildTimeNanoseconds;

    public List<StoredXattr> SharedXattrs = [];
    public int SharedXattrBytes;

    public bool AnyChunked;
    public long PointedFiles, PointedBytes;

    /// <summary>Blocks of the superblock, device table and inode area.</summary>
    public long MetaBlocks;
    public long XattrBlock, XattrBlocks;
    /// <summary>The data area: directory, symlink and copied file blocks in inode order.</summary>
    public long DataStart, DataEnd;
    /// <summary>The whole image, embedded devices and padding to 4096 bytes included.</summary>
    public long ImageBlocks;

    public int BlockSize => Geometry.BlockSize;

    public string Where(Entry e) => $"{Source.Description}: {ZarPath.Display(e.Path)}";
}
