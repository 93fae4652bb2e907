using Zar.Consumers;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Writes an uncompressed EROFS image (block size 512..4096) from any read-only filesystem. Layout:
/// [superblock, device table, inodes with inline xattrs/tails, best-fit packed][shared xattrs][directory,
/// symlink and file blocks in inode order][embedded devices]. Files whose bytes lie in an extra device
/// are pointed at there instead of copied (<see cref="ErofsWriterOptions.Devices"/>). The output is written
/// strictly sequentially (pipes work); file data is streamed from the source, only per-entry metadata is
/// held in memory. The stages, in order, are in <see cref="ErofsPlan"/>.
/// </summary>
public static class ErofsWriter
{
    public static ErofsWriteResult Write(IReadOnlyFileSystem source, string outputPath, ErofsWriterOptions? options = null)
    {
        using var file = new AtomicFile(outputPath);
        var result = Write(source, file.Stream, options);
        file.Commit();
        return result;
    }

    public static ErofsWriteResult Write(IReadOnlyFileSystem source, Stream output, ErofsWriterOptions? options = null)
    {
        var plan = new ErofsPlan(source, options ?? new ErofsWriterOptions());
        ErofsTreeCollector.Collect(plan);
        ErofsInodePlanner.ChooseBuildTime(plan);
        ErofsSharedXattrs.Plan(plan);
        ErofsInodePlanner.LayoutAll(plan);
        ErofsInodePacker.Place(plan);
        ErofsBlockAllocator.Allocate(plan);
        long imageBytes = plan.Geometry.Bytes(plan.ImageBlocks);
        if (imageBytes > plan.Options.MaxImageBytes)
            throw new ZarLimitException($"{source.Description}: the EROFS image would be {imageBytes} bytes, more than the limit of {plan.Options.MaxImageBytes} bytes (--max-size)");
        return ErofsEmitter.Emit(plan, output);
    }
}
