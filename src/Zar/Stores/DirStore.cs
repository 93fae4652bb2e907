namespace Zar.Stores;

/// <summary>
/// <c>dir:///path</c>: one file per blob named by the id's lowercase hex, sharded by its first byte
/// (<c>&lt;root&gt;/&lt;hex[0:2]&gt;/&lt;hex&gt;</c>, rfs since 2024-07). The flat layout of rfs ≤ 2.0.7
/// (<c>&lt;root&gt;/&lt;hex&gt;</c>) is read too. Blobs appear under their name only complete (written
/// beside it and renamed), so concurrent writers of one id and crashed runs leave no half blob.
/// </summary>
public sealed class DirStore : IContentStore
{
    public string Root { get; }
    public string Description => "dir://" + Root;

    /// <summary>Shard folders known to exist, so a write costs no mkdir.</summary>
    readonly bool[] _shards = new bool[256];

    public DirStore(string root) => Root = Path.GetFullPath(root);

    /// <summary>rfs takes only the URL's path: <c>dir://host/x</c> is <c>/x</c>.</summary>
    public static DirStore FromUrl(string url)
    {
        var rest = url["dir://".Length..];
        if (!rest.StartsWith('/')) rest = rest.IndexOf('/') is var slash and >= 0 ? rest[slash..] : "";
        if (rest.Length == 0) throw new ContentStoreException($"{url}: a dir store needs a path (dir:///absolute/path)");
        return new DirStore(Uri.UnescapeDataString(rest));
    }

    public string RouteUrl(bool stripPassword) => Description;
    public bool CanWrite => true;

    public string ShardedPath(byte[] id)
    {
        var hex = ChunkCodec.Hex(id);
        return Path.Combine(Root, hex[..2], hex);
    }

    string FlatPath(byte[] id) => Path.Combine(Root, ChunkCodec.Hex(id));

    public bool Exists(byte[] id) => File.Exists(ShardedPath(id)) || File.Exists(FlatPath(id));

    public byte[]? Get(byte[] id)
    {
        foreach (var p in new[] { ShardedPath(id), FlatPath(id) })
        {
            try { return File.ReadAllBytes(p); }
            catch (FileNotFoundException) { }
            catch (DirectoryNotFoundException) { }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ContentStoreException($"{Description}: cannot read {p}: {e.Message}", e);
            }
        }
        return null;
    }

    public void Put(byte[] id, ReadOnlyMemory<byte> blob)
    {
        var final = ShardedPath(id);
        var shard = Path.GetDirectoryName(final)!;
        var temp = Path.Combine(shard, "." + Path.GetFileName(final) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            if (!_shards[id[0]])
            {
                Directory.CreateDirectory(shard);
                _shards[id[0]] = true;
            }
            // A bare handle: no FileStream buffer and no advisory lock, the temp name is ours alone.
            using (var f = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite))
                RandomAccess.Write(f, blob.Span, 0);
            File.Move(temp, final, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw new ContentStoreException($"{Description}: cannot write {final}: {e.Message}", e);
        }
    }

    public void Dispose() { }
}
