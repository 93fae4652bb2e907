namespace Zar.Stores;

/// <summary>
/// Blobs fetched from remote stores kept on local disk (a <see cref="DirStore"/> layout) up to a size bound,
/// least recently used evicted first. Entries are checked on the way out (BLAKE2b = id), so a damaged cache
/// file is dropped and fetched again, never served. Thread-safe.
/// </summary>
public sealed class BoundedBlobCache
{
    readonly DirStore _store;
    readonly long _limit;
    readonly object _gate = new();
    long _bytes = -1;

    public BoundedBlobCache(string directory, long limitBytes)
    {
        _store = new DirStore(directory);
        _limit = limitBytes;
    }

    public string Directory => _store.Root;

    public byte[]? Get(byte[] id)
    {
        byte[]? blob;
        try { blob = _store.Get(id); }
        catch (ContentStoreException) { return null; }
        if (blob == null) return null;
        var path = _store.ShardedPath(id);
        if (!ChunkCodec.MatchesId(blob, id))
        {
            TryDelete(path);
            return null;
        }
        try { File.SetLastWriteTimeUtc(path, DateTime.UtcNow); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        return blob;
    }

    /// <summary>Keeps a blob; a cache that cannot be written (full disk, permissions) is skipped silently.</summary>
    public void Put(byte[] id, byte[] blob)
    {
        if (blob.Length > _limit) return;
        try { _store.Put(id, blob); }
        catch (ContentStoreException) { return; }
        lock (_gate)
        {
            if (_bytes < 0) _bytes = Files().Sum(f => f.Length);
            else _bytes += blob.Length;
            if (_bytes <= _limit) return;
            // Evict the least recently used down to 90% of the bound, so eviction runs rarely.
            foreach (var f in Files().OrderBy(f => f.LastWriteTimeUtc))
            {
                if (_bytes <= _limit * 9 / 10) break;
                if (TryDelete(f.FullName)) _bytes -= f.Length;
            }
        }
    }

    IEnumerable<FileInfo> Files()
    {
        var root = new DirectoryInfo(_store.Root);
        return root.Exists ? root.EnumerateFiles("*", SearchOption.AllDirectories).Where(f => !f.Name.StartsWith('.')) : [];
    }

    static bool TryDelete(string path)
    {
        try { File.Delete(path); return true; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }
}
