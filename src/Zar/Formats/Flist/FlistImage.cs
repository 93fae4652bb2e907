using System.Collections.Concurrent;
using System.Text;
using Zar.Model;
using Zar.Stores;

namespace Zar.Formats.Flist;

/// <summary>How to open an fl: which stores to read blobs from, how much to cache.</summary>
public sealed record FlistOpenOptions
{
    /// <summary>Store specs (<c>[xx-yy=]URL</c>) used instead of the fl's own routes (e.g. with credentials the fl does not carry).</summary>
    public IReadOnlyList<string> Stores { get; init; } = [];
    public long CacheBytes { get; init; } = 64 << 20;
    /// <summary>Where blobs from network stores (zdb, s3, http) are kept between runs; null: not kept.</summary>
    public string? DiskCacheDirectory { get; init; }
    public long DiskCacheBytes { get; init; } = 2L << 30;
}

/// <summary>
/// An fl (rfs "FungiList") as a read-only filesystem: the tree comes from the <c>inode</c> and <c>extra</c>
/// tables, loaded once; a regular file's bytes are its <c>block</c> rows, one <see cref="FlistChunk"/>
/// blob per 512 KiB, fetched from the stores of the <c>route</c> table (or <see cref="FlistOpenOptions.Stores"/>)
/// only when read. Inode numbers are the fl's own <c>ino</c> (root 1). What the format has no room for
/// reads as nothing: no xattrs, no hard links (each name its own inode), seconds-only times.
/// </summary>
public sealed class FlistImage : IReadOnlyFileSystem
{
    readonly FlistDatabase _db;
    readonly Dictionary<string, Entry> _byPath = new(StringComparer.Ordinal);
    readonly Dictionary<string, Entry[]> _children = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<long, FileData> _data = new();
    readonly FlistChunkSource _chunks;
    volatile bool _disposed;

    public string Path { get; }
    public string Description => $"fl {Path}";
    public Entry Root { get; }
    public IReadOnlyList<FlistRoute> Routes { get; }
    public IReadOnlyList<FlistTag> Tags { get; }
    public FlistChunkSource Chunks => _chunks;

    FlistImage(string path, FlistDatabase db, FlistOpenOptions options)
    {
        Path = path;
        _db = db;
        Routes = db.ReadAll(FlistRoute.Select, FlistRoute.Read);
        Tags = db.ReadAll(FlistTag.Select, FlistTag.Read);
        var inodes = db.ReadAll(FlistInode.Select, FlistInode.Read);
        var targets = db.ReadAll(FlistExtra.Select, FlistExtra.Read).ToDictionary(x => x.Ino, x => x.Data);
        Root = BuildTree(inodes, targets);
        var specs = options.Stores.Count > 0 ? options.Stores : Routes.Select(r => $"{r.Start:x2}-{r.End:x2}={r.Url}").ToList();
        _chunks = new FlistChunkSource(Description, () =>
        {
            if (specs.Count == 0) throw new ContentStoreException($"{Description}: the fl names no store; give one with -s URL");
            try { return ContentRouter.Open(specs); }
            catch (ContentStoreException e) { throw new ContentStoreException($"{Description}: {e.Message}", e); }
        }, options.CacheBytes, options.DiskCacheDirectory is { } dir ? new BoundedBlobCache(dir, options.DiskCacheBytes) : null);
    }

    public static FlistImage Open(string path, FlistOpenOptions? options = null)
    {
        var db = FlistDatabase.OpenRead(path);
        try { return new FlistImage(path, db, options ?? new FlistOpenOptions()); }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    Entry BuildTree(List<FlistInode> inodes, Dictionary<long, byte[]> targets)
    {
        var byIno = new Dictionary<long, FlistInode>(inodes.Count);
        foreach (var i in inodes)
            if (!byIno.TryAdd(i.Ino, i)) throw new ZarFormatException($"{Path}: inode {i.Ino} appears twice");
        if (!byIno.TryGetValue(1, out var rootRow))
            rootRow = inodes.FirstOrDefault(i => i.Parent == 0);
        if (rootRow.Ino == 0) throw new ZarFormatException($"{Path}: no root inode (ino 1, parent 0)");
        if ((rootRow.Mode & 0xF000) != 0x4000) throw new ZarFormatException($"{Path}: the root inode {rootRow.Ino} is not a directory");

        var kids = new Dictionary<long, List<FlistInode>>();
        foreach (var i in inodes)
        {
            if (i.Ino == rootRow.Ino) continue;
            if (!kids.TryGetValue(i.Parent, out var list)) kids[i.Parent] = list = new();
            list.Add(i);
        }
        var root = MakeEntry(rootRow, "", targets);
        _byPath[""] = root;
        // Iterative walk from the root: rows not reached (orphans, cycles) are not part of the tree.
        var pending = new Stack<(FlistInode Row, string Path)>();
        pending.Push((rootRow, ""));
        while (pending.Count > 0)
        {
            var (dir, dirPath) = pending.Pop();
            if (!kids.TryGetValue(dir.Ino, out var list)) { _children[dirPath] = []; continue; }
            var children = new List<Entry>(list.Count);
            foreach (var row in list.OrderBy(r => r.Ino))
            {
                if (!ZarPath.IsValidName(row.Name)) throw new ZarFormatException($"{Path}: inode {row.Ino}: invalid name {ZarPath.Display(row.Name)}");
                var path = ZarPath.Join(dirPath, row.Name);
                if (_byPath.ContainsKey(path)) continue; // rfs looks names up by (parent, name) and takes the first
                var e = MakeEntry(row, path, targets);
                _byPath[path] = e;
                children.Add(e);
                if (e.IsDirectory) pending.Push((row, path));
            }
            children.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
            _children[dirPath] = children.ToArray();
        }
        return root;
    }

    Entry MakeEntry(FlistInode row, string path, Dictionary<long, byte[]> targets)
    {
        EntryType type;
        try { type = Entry.TypeFromUnixMode(row.Mode); }
        catch (ZarFormatException) { throw new ZarFormatException($"{Path}: inode {row.Ino} ({ZarPath.Display(path)}): unknown file type in mode 0{Convert.ToString(row.Mode, 8)}"); }
        if (type == EntryType.Regular && row.Size < 0) throw new ZarFormatException($"{Path}: {ZarPath.Display(path)}: negative size {row.Size}");
        string? target = null;
        if (type == EntryType.Symlink)
            target = targets.TryGetValue(row.Ino, out var t) ? ZarPath.Decode(t)
                : throw new ZarFormatException($"{Path}: symlink {ZarPath.Display(path)} (inode {row.Ino}) has no target in the extra table");
        bool device = type is EntryType.CharDevice or EntryType.BlockDevice;
        return new Entry
        {
            Path = path, Type = type, Mode = row.Mode & 0xFFF, Uid = row.Uid, Gid = row.Gid, MtimeSeconds = row.Mtime,
            Size = type == EntryType.Regular ? row.Size : 0, LinkTarget = target,
            DevMajor = device ? row.DevMajor : 0, DevMinor = device ? row.DevMinor : 0, Inode = row.Ino,
        };
    }

    void CheckOpen() => ObjectDisposedException.ThrowIf(_disposed, this);

    public Entry? Lookup(string path)
    {
        CheckOpen();
        return _byPath.GetValueOrDefault(path);
    }

    public IEnumerable<Entry> List(Entry directory)
    {
        CheckOpen();
        return _children.TryGetValue(directory.Path, out var c) ? c : [];
    }

    public FileData GetData(Entry file)
    {
        CheckOpen();
        if (!file.IsRegular) throw new ZarException($"{ZarPath.Display(file.Path)}: not a regular file");
        if (_data.TryGetValue(file.Inode, out var data)) return data;
        data = _data.GetOrAdd(file.Inode, _ => LoadData(file));
        ReadAhead(file);
        return data;
    }

    // Read-ahead across files: a reader taking files in walk order (extract, convert, diff) has the next
    // files' chunks decoded in the background while it writes this one. Random access triggers nothing.
    List<Entry>? _walkFiles;
    Dictionary<long, int>? _walkIndex;
    int _lastFile = -2, _aheadTo;
    const long ReadAheadBytes = 16 << 20;

    void ReadAhead(Entry file)
    {
        lock (_data)
        {
            if (_walkFiles == null)
            {
                _walkFiles = ((IReadOnlyFileSystem)this).Walk().Where(e => e.IsRegular).ToList();
                _walkIndex = new Dictionary<long, int>(_walkFiles.Count);
                for (int i = 0; i < _walkFiles.Count; i++) _walkIndex.TryAdd(_walkFiles[i].Inode, i);
            }
            if (!_walkIndex!.TryGetValue(file.Inode, out int at)) return;
            bool sequential = at == _lastFile + 1;
            _lastFile = at;
            if (!sequential) return;
            int from = Math.Max(at + 1, _aheadTo);
            long bytes = 0;
            int to = from;
            while (to < _walkFiles.Count && to < at + 256 && bytes < ReadAheadBytes) bytes += _walkFiles[to++].Size;
            if (to <= from) return;
            _aheadTo = to;
            var next = _walkFiles.GetRange(from, to - from);
            _chunks.Prefetch(next.SelectMany(f => GetDataNoReadAhead(f).Segments.Select(s => (FlistChunk)s.Blob)).ToList());
        }
    }

    FileData GetDataNoReadAhead(Entry file) => _data.GetOrAdd(file.Inode, _ => LoadData(file));

    FileData LoadData(Entry file)
    {
        List<FlistBlock> blocks;
        lock (_db)
        {
            CheckOpen();
            blocks = _db.ReadAll(FlistBlock.SelectForInode, FlistBlock.Read, c => c.Parameters.AddWithValue("$ino", file.Inode));
        }
        long size = file.Size;
        long need = (size + ChunkCodec.ChunkSize - 1) / ChunkCodec.ChunkSize;
        if (blocks.Count != need)
            throw new ZarFormatException($"{Description}: {ZarPath.Display(file.Path)}: {blocks.Count} blocks for {size} bytes (expected {need} of 512 KiB)");
        var segments = new FileSegment[blocks.Count];
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            if (b.Id.Length != ChunkCodec.HashSize || b.Key.Length != ChunkCodec.HashSize)
                throw new ZarFormatException($"{Description}: {ZarPath.Display(file.Path)}: block {i} has a {b.Id.Length}-byte id and a {b.Key.Length}-byte key (both must be 32)");
            long offset = (long)i * ChunkCodec.ChunkSize;
            long length = Math.Min(ChunkCodec.ChunkSize, size - offset);
            segments[i] = new FileSegment(offset, length,
                new FlistChunk(_chunks, b.Id, b.Key, length, $"{Description}: {ZarPath.Display(file.Path)} chunk {i}"), 0);
        }
        var chunks = segments.Select(s => (FlistChunk)s.Blob).ToArray();
        for (int i = 0; i < chunks.Length; i++) chunks[i].Following = new ArraySegment<FlistChunk>(chunks, i + 1, chunks.Length - i - 1);
        return new FileData(size, segments);
    }

    /// <summary>Every distinct blob id the fl references (what clone copies).</summary>
    public IReadOnlyList<byte[]> BlobIds()
    {
        lock (_db)
        {
            CheckOpen();
            return _db.ReadAll(FlistBlock.SelectDistinctIds, r => FlistInode.Bytes(r, 0));
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_db) _db.Dispose();
        _chunks.Dispose();
    }
}
