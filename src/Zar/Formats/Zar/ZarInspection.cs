using Zar.Model;

namespace Zar.Formats.Zar;

/// <summary>What `zar inspect` shows about a zar image: footer, counts and sizes (one pass over the entries).</summary>
public sealed record ZarInspection(
    ZarFooter Footer, ZarMetadataHeader Header, long ImageBytes, IReadOnlyDictionary<EntryType, long> CountsByType,
    long Files, long HardlinkNames, long LogicalBytes, long StoredBytes, long DeduplicatedBytes, long HoleBytes, long XattrCount)
{
    public static ZarInspection Of(ZarImage image, string path)
    {
        var counts = new Dictionary<EntryType, long>();
        var seen = new HashSet<long>();
        var contents = new HashSet<long>();
        long files = 0, hardlinks = 0, logical = 0, referenced = 0, storedBytes = 0, holes = 0, xattrs = 0;
        foreach (var e in image.Walk())
        {
            counts[e.Type] = counts.GetValueOrDefault(e.Type) + 1;
            xattrs += e.Xattrs.Count;
            if (!e.IsRegular) continue;
            if (!seen.Add(e.Inode)) { hardlinks++; continue; }
            files++;
            logical += e.Size;
            var data = ((IReadOnlyFileSystem)image).GetData(e);
            long stored = data.StoredBytes;
            holes += e.Size - stored;
            referenced += stored;
            // Deduplicated files share one stored range (same start in the image); count each range once.
            if (stored > 0 && contents.Add(data.Segments[0].BlobOffset)) storedBytes += stored;
        }
        return new ZarInspection(image.Footer, image.Header, new FileInfo(path).Length, counts, files, hardlinks, logical, storedBytes,
            referenced - storedBytes, holes, xattrs);
    }
}
