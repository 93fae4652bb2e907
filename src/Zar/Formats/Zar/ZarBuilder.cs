using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Zar;

/// <summary>Writes any readable filesystem (host directory, another image, a layer stack) as a zar image.</summary>
public static class ZarBuilder
{
    public static ZarWriteResult Write(IReadOnlyFileSystem source, Stream output, ZarWriterOptions? options = null)
    {
        var writer = new ZarWriter(output, options);
        var seenInodes = new HashSet<long>();
        foreach (var e in source.Walk())
        {
            bool firstName = e.Inode == 0 || e.IsDirectory || seenInodes.Add(e.Inode);
            if (e.IsRegular && firstName)
            {
                var extents = source.GetExtents(e);
                using var data = source.OpenStored(e, extents);
                writer.Add(e, data, extents);
            }
            else writer.Add(e);
        }
        return writer.Finish();
    }

    /// <summary>Writes to a path under a temporary name, renamed into place only when complete.</summary>
    public static ZarWriteResult Create(IReadOnlyFileSystem source, string outputPath, ZarWriterOptions? options = null)
    {
        using var file = new AtomicFile(outputPath);
        var result = Write(source, file.Stream, options);
        file.Commit();
        return result;
    }
}
