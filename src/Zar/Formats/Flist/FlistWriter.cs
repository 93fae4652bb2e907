using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using Microsoft.Data.Sqlite;
using Zar.Model;
using Zar.Stores;

namespace Zar.Formats.Flist;

public sealed record FlistWriteOptions
{
    /// <summary>Remove passwords from the store URLs recorded in the fl (rfs's default since 2.0.1).</summary>
    public bool StripPasswords { get; init; } = true;
    /// <summary>Tags to record (none by default, as rfs).</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();
    /// <summary>Contents of <c>/.startup.toml</c> to put at the root (replacing one in the tree), or null.</summary>
    public byte[]? StartupToml { get; init; }
    /// <summary>Chunks hashed, compressed, encrypted and uploaded at once (default: two per core, so store writes overlap the encoding).</summary>
    public int Parallelism { get; init; } = Math.Max(4, 2 * Environment.ProcessorCount);
    /// <summary>Bytes of file data done so far.</summary>
    public IProgress<long>? Progress { get; init; }
}

public sealed record FlistWriteResult
{
    public required string Path { get; init; }
    public long Inodes { get; init; }
    public long Files { get; init; }
    public long Bytes { get; init; }
    /// <summary>Block rows written (one per 512 KiB of each file).</summary>
    public long Chunks { get; init; }
    /// <summary>Distinct blobs among them (the rest repeat a chunk seen earlier in this run).</summary>
    public long UniqueBlobs { get; init; }
    /// <summary>Blobs written to at least one store.</summary>
    public long BlobsUploaded { get; init; }
    /// <summary>Blobs every covering store already had (a previous run, another image): not uploaded again.</summary>
    public long BlobsSkipped { get; init; }
    public long BlobBytesUploaded { get; init; }
    /// <summary>What the fl could not carry (xattrs, hard links, sub-second times, non-UTF-8 names), one line per kind.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// Writes a tree as an fl plus its blobs, as <c>rfs pack</c> does (spec §2.5, §3): the root is ino 1 named
/// "/", inodes are numbered in walk order (parents before children), each regular file is cut into 512 KiB
/// chunks whose blobs go to every store of the router covering their id, and the block rows keep each
/// file's chunk order. Chunks are hashed, compressed, encrypted and uploaded on worker threads while the
/// tree is read in order; a chunk already seen in this run is not encoded again, a blob a store already
/// has is not uploaded again. The fl appears under its name only when complete.
/// </summary>
public static class FlistWriter
{
    public static FlistWriteResult Write(IReadOnlyFileSystem fs, string outPath, ContentRouter router, FlistWriteOptions? options = null)
    {
        options ??= new FlistWriteOptions();
        router.RequireWritableCoverage();
        var full = System.IO.Path.GetFullPath(outPath);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new ZarException($"{outPath}: directory {dir} does not exist");
        if (Directory.Exists(full)) throw new ZarException($"{outPath}: is a directory");
        var temp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            FlistWriteResult result;
            using (var db = FlistDatabase.Create(temp))
                result = db.Run(() => WriteTree(fs, db, router, options)) with { Path = outPath };
            File.Move(temp, full, overwrite: true);
            return result;
        }
        finally
        {
            File.Delete(temp);
            File.Delete(temp + "-journal");
        }
    }

    static FlistWriteResult WriteTree(IReadOnlyFileSystem fs, FlistDatabase db, ContentRouter router, FlistWriteOptions options)
    {
        using var tx = db.Connection.BeginTransaction();
        using var insertInode = Prepared(db, tx, FlistInode.Insert);
        using var insertExtra = Prepared(db, tx, FlistExtra.Insert);
        using var insertBlock = Prepared(db, tx, FlistBlock.Insert);
        using (var insertRoute = Prepared(db, tx, FlistRoute.Insert))
            foreach (var r in router.Routes)
            {
                new FlistRoute(r.Start, r.End, r.Store.RouteUrl(options.StripPasswords)).Bind(insertRoute);
                insertRoute.ExecuteNonQuery();
            }
        using (var upsertTag = Prepared(db, tx, FlistTag.Upsert))
            foreach (var (k, v) in options.Tags)
            {
                new FlistTag(k, v).Bind(upsertTag);
                upsertTag.ExecuteNonQuery();
            }

        var warnings = new Warnings();
        using var pipeline = new ChunkPipeline(router, options.Parallelism);
        var blockTasks = new Queue<(long Ino, Task<(byte[] Id, byte[] Key)> Chunk)>();
        int maxPending = options.Parallelism * 4;
        long inodes = 0, files = 0, bytes = 0, chunks = 0;

        void DrainOne()
        {
            var (ino, task) = blockTasks.Dequeue();
            var (id, key) = task.GetAwaiter().GetResult();
            new FlistBlock(ino, id, key).Bind(insertBlock);
            insertBlock.ExecuteNonQuery();
        }

        void AddInode(FlistInode row)
        {
            row.Bind(insertInode);
            insertInode.ExecuteNonQuery();
            inodes++;
        }

        void AddData(long ino, Func<long, Span<byte>, int> read, long size, string what)
        {
            for (long offset = 0; offset < size; offset += ChunkCodec.ChunkSize)
            {
                int len = (int)Math.Min(ChunkCodec.ChunkSize, size - offset);
                var buffer = ArrayPool<byte>.Shared.Rent(len);
                int got = 0;
                try
                {
                    while (got < len)
                    {
                        int n = read(offset + got, buffer.AsSpan(got, len - got));
                        if (n <= 0) throw new ZarFormatException($"{fs.Description}: {what}: ended at {offset + got} of {size} bytes");
                        got += n;
                    }
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }
                blockTasks.Enqueue((ino, pipeline.Submit(buffer, len)));
                chunks++;
                bytes += len;
                while (blockTasks.Count > maxPending) DrainOne();
                options.Progress?.Report(bytes);
            }
        }

        var root = fs.Root;
        long nextIno = 1;
        var dirInodes = new Dictionary<string, long>(StringComparer.Ordinal);
        var namesByParent = new Dictionary<long, HashSet<string>>();
        var hardlinks = new HashSet<long>();
        foreach (var e in fs.Walk())
        {
            if (e.Path.Length == 0)
            {
                AddInode(Row(e, 1, 0, "/", warnings));
                dirInodes[""] = 1;
                nextIno = 2;
                namesByParent[1] = new HashSet<string>(StringComparer.Ordinal);
                if (options.StartupToml is { } toml)
                {
                    long tomlIno = nextIno++;
                    AddInode(new FlistInode(tomlIno, 1, StartupToml.FileName, toml.Length, 0, 0, 0x8000 | 0x1A4, 0, e.MtimeSeconds, e.MtimeSeconds));
                    namesByParent[1].Add(StartupToml.FileName);
                    AddData(tomlIno, (o, span) => { int n = (int)Math.Min(span.Length, toml.Length - o); toml.AsSpan((int)o, n).CopyTo(span); return n; }, toml.Length, StartupToml.FileName);
                    files++;
                }
                continue;
            }
            var parentPath = ZarPath.Parent(e.Path);
            if (!dirInodes.TryGetValue(parentPath, out var parent)) continue; // under a skipped entry
            var name = Utf8Name(e.Name, warnings);
            if (!namesByParent[parent].Add(name))
            {
                warnings.Add("names", $"{ZarPath.Display(e.Path)}: another name in its directory reads the same as UTF-8; skipped");
                continue;
            }
            long ino = nextIno++;
            AddInode(Row(e, ino, parent, name, warnings));
            if (e.Xattrs.Count > 0) warnings.Count("xattrs", "extended attributes are not kept (an fl has no xattrs)");
            switch (e.Type)
            {
                case EntryType.Directory:
                    dirInodes[e.Path] = ino;
                    namesByParent[ino] = new HashSet<string>(StringComparer.Ordinal);
                    break;
                case EntryType.Symlink:
                    new FlistExtra(ino, ZarPath.Encode(e.LinkTarget ?? "")).Bind(insertExtra);
                    insertExtra.ExecuteNonQuery();
                    break;
                case EntryType.Regular:
                    if (e.LinkCount > 1 && !hardlinks.Add(e.Inode))
                        warnings.Count("hardlinks", "hard links become separate files (their blobs are stored once)");
                    files++;
                    var file = e;
                    AddData(ino, (o, span) => fs.Read(file, o, span), e.Size, ZarPath.Display(e.Path));
                    break;
            }
        }
        while (blockTasks.Count > 0) DrainOne();
        tx.Commit();
        var stats = pipeline.Stats;
        return new FlistWriteResult
        {
            Path = "", Inodes = inodes, Files = files, Bytes = bytes, Chunks = chunks,
            UniqueBlobs = stats.Unique, BlobsUploaded = stats.Uploaded, BlobsSkipped = stats.Skipped, BlobBytesUploaded = stats.UploadedBytes,
            Warnings = warnings.Lines(),
        };
    }

    static SqliteCommand Prepared(FlistDatabase db, SqliteTransaction tx, string sql)
    {
        var c = db.Command(sql);
        c.Transaction = tx;
        return c;
    }

    static FlistInode Row(Entry e, long ino, long parent, string name, Warnings warnings)
    {
        if (e.MtimeNanoseconds != 0) warnings.Count("times", "times are kept in whole seconds");
        long size = e.Type switch
        {
            EntryType.Regular => e.Size,
            EntryType.Directory => 4096,
            EntryType.Symlink => ZarPath.Encode(e.LinkTarget ?? "").Length,
            _ => 0,
        };
        ulong rdev = e.Type is EntryType.CharDevice or EntryType.BlockDevice ? FlistInode.MakeDev(e.DevMajor, e.DevMinor) : 0;
        return new FlistInode(ino, parent, name, size, e.Uid, e.Gid, e.UnixMode, rdev, e.MtimeSeconds, e.MtimeSeconds);
    }

    /// <summary>Names are TEXT: bytes that are not UTF-8 become U+FFFD, as rfs does.</summary>
    static string Utf8Name(string name, Warnings warnings)
    {
        var bytes = ZarPath.Encode(name);
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return name;
        warnings.Count("utf8", "names that are not UTF-8 are stored with U+FFFD in place of their bad bytes (rfs does the same)");
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>One line per kind of loss, with a count, so a big tree gives a short report.</summary>
    sealed class Warnings
    {
        readonly Dictionary<string, (string Text, long Count)> _kinds = new();
        readonly List<string> _lines = new();
        public void Count(string kind, string text) => _kinds[kind] = (text, _kinds.TryGetValue(kind, out var k) ? k.Count + 1 : 1);
        public void Add(string kind, string line) { if (_lines.Count < 20) _lines.Add(line); }
        public IReadOnlyList<string> Lines() => _kinds.Values.Select(k => $"{k.Text}: {k.Count} entries").Concat(_lines).ToList();
    }
}

/// <summary>
/// Worker threads that turn plaintext chunks into blobs in stores: BLAKE2b, then (for a key not seen in
/// this run) snappy + AES-GCM + BLAKE2b and an upload to every covering store that lacks the blob.
/// Results come back as tasks so the caller records block rows in file order.
/// </summary>
sealed class ChunkPipeline : IDisposable
{
    readonly ContentRouter _router;
    readonly BlockingCollection<(byte[] Buffer, int Length, TaskCompletionSource<(byte[], byte[])> Done)> _jobs;
    readonly Thread[] _workers;
    readonly ConcurrentDictionary<string, Task<byte[]>> _seen = new();
    long _unique, _uploaded, _skipped, _uploadedBytes;
    volatile bool _stopping;

    public ChunkPipeline(ContentRouter router, int parallelism)
    {
        _router = router;
        _jobs = new(parallelism * 2);
        _workers = new Thread[parallelism];
        for (int i = 0; i < parallelism; i++)
        {
            _workers[i] = new Thread(Work) { IsBackground = true, Name = $"flist chunk {i}" };
            _workers[i].Start();
        }
    }

    public (long Unique, long Uploaded, long Skipped, long UploadedBytes) Stats => (_unique, _uploaded, _skipped, _uploadedBytes);

    /// <summary>Takes ownership of <paramref name="buffer"/> (from the shared ArrayPool); the task gives (id, key).</summary>
    public Task<(byte[] Id, byte[] Key)> Submit(byte[] buffer, int length)
    {
        var done = new TaskCompletionSource<(byte[], byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        _jobs.Add((buffer, length, done));
        return done.Task;
    }

    void Work()
    {
        foreach (var (buffer, length, done) in _jobs.GetConsumingEnumerable())
        {
            try
            {
                if (_stopping) { done.TrySetCanceled(); continue; }
                var plain = buffer.AsSpan(0, length);
                var key = ChunkCodec.Hash(plain);
                var mine = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
                var idTask = _seen.GetOrAdd(ChunkCodec.Hex(key), mine.Task);
                if (idTask == mine.Task)
                {
                    try
                    {
                        var chunk = ChunkCodec.Encode(plain, key);
                        var (written, _) = _router.PutMissing(chunk.Id, chunk.Blob);
                        Interlocked.Increment(ref _unique);
                        if (written > 0)
                        {
                            Interlocked.Increment(ref _uploaded);
                            Interlocked.Add(ref _uploadedBytes, chunk.Blob.Length);
                        }
                        else Interlocked.Increment(ref _skipped);
                        mine.SetResult(chunk.Id);
                    }
                    catch (Exception e)
                    {
                        mine.SetException(e);
                        throw;
                    }
                }
                done.SetResult((idTask.GetAwaiter().GetResult(), key));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Stops the workers; chunks not started yet are dropped (after a failure nothing more is uploaded).</summary>
    public void Dispose()
    {
        _stopping = true;
        _jobs.CompleteAdding();
        foreach (var w in _workers) w.Join();
        _jobs.Dispose();
    }
}
