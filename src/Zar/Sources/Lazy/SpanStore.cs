using System.Security.Cryptography;
using Zar.Model;

namespace Zar.Sources.Lazy;

/// <summary>
/// The on-disk tier of the span cache, shared by runs: <c>DIR/BLOBHEX/SPAN.span</c> = sha256 of the data (checked on
/// every read, so a damaged file is a miss, never wrong bytes) + the decompressed span. Bounded: after a write,
/// the least recently used files (by mtime, refreshed on every hit) go until the total is under <see cref="Limit"/>.
/// Files are written under a temporary name and renamed, so concurrent runs see whole spans or none.
/// </summary>
public sealed class SpanStore
{
    public const long DefaultLimit = 2L << 30;
    const string Extension = ".span";

    readonly object _lock = new();
    long _size;

    public string Directory { get; }
    public long Limit { get; }
    public long Size { get { lock (_lock) return _size; } }

    public SpanStore(string directory, long limit = DefaultLimit)
    {
        Directory = directory;
        Limit = limit;
        _size = Files(directory).Sum(f => f.Length);
    }

    static IEnumerable<FileInfo> Files(string directory) =>
        System.IO.Directory.Exists(directory)
            ? new DirectoryInfo(directory).EnumerateFiles("*" + Extension, SearchOption.AllDirectories)
            : [];

    string PathOf(string blob, int span) => Path.Combine(Directory, blob[(blob.IndexOf(':') + 1)..], span + Extension);

    public byte[]? TryGet(string blob, int span)
    {
        var path = PathOf(blob, span);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (bytes.Length < 32 || !SHA256.HashData(bytes.AsSpan(32)).AsSpan().SequenceEqual(bytes.AsSpan(0, 32)))
        {
            try { File.Delete(path); } catch (IOException) { }
            return null;
        }
        try { File.SetLastWriteTimeUtc(path, DateTime.UtcNow); } catch (IOException) { }
        return bytes[32..];
    }

    public void Put(string blob, int span, byte[] data)
    {
        if (data.Length + 32 > Limit) return;
        var path = PathOf(blob, span);
        try
        {
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(SHA256.HashData(data));
                f.Write(data);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; } // a cache that cannot be written only costs a refetch
        bool over;
        lock (_lock)
        {
            _size += data.Length + 32;
            over = _size > Limit;
        }
        if (over) lock (_lock) _size = Prune(Directory, Limit);
    }

    /// <summary>Deletes the least recently used spans until at most <paramref name="limit"/> bytes remain (0: all); returns what remains.</summary>
    public static long Prune(string directory, long limit)
    {
        var files = Files(directory).OrderBy(f => f.LastWriteTimeUtc).ToList();
        long total = files.Sum(f => f.Length);
        foreach (var f in files)
        {
            if (total <= limit) break;
            long length = f.Length;
            try { f.Delete(); total -= length; }
            catch (IOException) { }
        }
        if (System.IO.Directory.Exists(directory))
            foreach (var d in System.IO.Directory.EnumerateDirectories(directory))
                if (!System.IO.Directory.EnumerateFileSystemEntries(d).Any()) try { System.IO.Directory.Delete(d); } catch (IOException) { }
        return total;
    }
}
