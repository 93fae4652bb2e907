using System.Collections.Concurrent;
using Zar.Model;
using Zar.Stores;

namespace Zar.Formats.Flist;

/// <summary>
/// Where an fl's chunks come from: its stores (opened on first use, so listing needs none) through a
/// bounded in-memory cache of decoded chunks. Every blob is checked: BLAKE2b(blob) = id (by the router,
/// which then tries another replica) and BLAKE2b(plaintext) = key. Concurrent readers of one chunk share
/// one fetch. Thread-safe.
/// </summary>
public sealed class FlistChunkSource : IDisposable
{
    readonly Func<ContentRouter> _openRouter;
    readonly object _gate = new();
    ContentRouter? _router;
    readonly ConcurrentDictionary<string, Lazy<byte[]>> _inFlight = new();
    readonly LinkedList<(string Id, byte[] Plain)> _lru = new();
    readonly Dictionary<string, LinkedListNode<(string Id, byte[] Plain)>> _cached = new();
    readonly long _cacheLimit;
    long _cachedBytes;
    volatile bool _disposed;

    public string Description { get; }

    readonly BoundedBlobCache? _disk;

    /// <param name="cacheBytes">Decoded chunks kept in memory (64 MiB by default: 128 chunks).</param>
    /// <param name="disk">Where blobs from network stores are kept between runs, or null.</param>
    public FlistChunkSource(string description, Func<ContentRouter> openRouter, long cacheBytes = 64 << 20, BoundedBlobCache? disk = null)
    {
        Description = description;
        _openRouter = openRouter;
        _cacheLimit = cacheBytes;
        _disk = disk;
    }

    readonly ConcurrentQueue<FlistChunk> _prefetch = new();
    int _prefetchers;

    /// <summary>
    /// Decodes these chunks in the background (at most one worker per core) so that a reader going through
    /// files in order finds them ready: fetching, hashing and decrypting overlap with its writing. Failures
    /// are left for the real read to report.
    /// </summary>
    public void Prefetch(IEnumerable<FlistChunk> chunks)
    {
        if (_disposed) return;
        foreach (var c in chunks)
            if (!IsCached(c.Id)) _prefetch.Enqueue(c);
        while (!_prefetch.IsEmpty)
        {
            int n = _prefetchers;
            if (n >= Environment.ProcessorCount) return;
            if (Interlocked.CompareExchange(ref _prefetchers, n + 1, n) != n) continue;
            ThreadPool.UnsafeQueueUserWorkItem(_ => PrefetchWorker(), null);
        }
    }

    void PrefetchWorker()
    {
        try
        {
            while (!_disposed && _prefetch.TryDequeue(out var c))
            {
                try { GetPlain(c.Id, c.Key, c.Description); }
                catch (Exception) { }
            }
        }
        finally { Interlocked.Decrement(ref _prefetchers); }
    }

    bool IsCached(byte[] id)
    {
        var hex = ChunkCodec.Hex(id);
        lock (_lru) return _cached.ContainsKey(hex) || _inFlight.ContainsKey(hex);
    }

    public ContentRouter Router
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            lock (_gate) return _router ??= _openRouter();
        }
    }

    /// <summary>The plaintext of a chunk; <paramref name="what"/> names it in errors ("x.fl: /etc/passwd chunk 0").</summary>
    public byte[] GetPlain(byte[] id, byte[] key, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var hex = ChunkCodec.Hex(id);
        lock (_lru)
        {
            if (_cached.TryGetValue(hex, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value.Plain;
            }
        }
        var lazy = _inFlight.GetOrAdd(hex, _ => new Lazy<byte[]>(() => Fetch(id, key, hex, what), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            var plain = lazy.Value;
            Remember(hex, plain);
            return plain;
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<string, Lazy<byte[]>>(hex, lazy));
        }
    }

    byte[] Fetch(byte[] id, byte[] key, string hex, string what)
    {
        var blob = _disk?.Get(id);
        if (blob == null)
        {
            blob = Router.Get(id)
                ?? throw new ContentStoreException($"{what}: blob {hex} is in none of the stores that serve it ({string.Join(", ", Router.RoutesFor(id[0]).Select(r => r.Store.Description))})");
            // Local dir stores are read in place; only what crossed the network is worth keeping.
            if (_disk != null && Router.RoutesFor(id[0]).Any(r => r.Store is not DirStore)) _disk.Put(id, blob);
        }
        return ChunkCodec.Decode(blob, key, $"{what}: blob {hex}");
    }

    void Remember(string hex, byte[] plain)
    {
        lock (_lru)
        {
            if (_disposed || _cached.ContainsKey(hex) || plain.Length > _cacheLimit) return;
            _cached[hex] = _lru.AddFirst((hex, plain));
            _cachedBytes += plain.Length;
            while (_cachedBytes > _cacheLimit && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _cached.Remove(last.Value.Id);
                _cachedBytes -= last.Value.Plain.Length;
            }
        }
    }

    public void Dispose()
    {
        _disposed = true;
        lock (_lru) { _lru.Clear(); _cached.Clear(); }
        lock (_gate) _router?.Dispose();
    }
}

/// <summary>
/// One chunk of an fl file as a blob: its plaintext, fetched and decoded on first read. The length comes
/// from the file size (every chunk 512 KiB but the last), as rfs's mount computes it; a chunk that decodes
/// shorter reads as zeros past its end and a longer one is cut, which is what rfs does with such files.
/// </summary>
public sealed class FlistChunk(FlistChunkSource source, byte[] id, byte[] key, long length, string description) : IBlob
{
    /// <summary>The file's chunks after this one, prefetched when this one is first read (sequential reads of a big file).</summary>
    internal ArraySegment<FlistChunk> Following { get; set; }
    int _touched;

    public byte[] Id { get; } = id;
    public byte[] Key { get; } = key;
    public string Description { get; } = description;
    public long Length { get; } = length;

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= Length || destination.IsEmpty) return 0;
        int n = (int)Math.Min(destination.Length, Length - offset);
        if (Following.Count > 0 && Interlocked.Exchange(ref _touched, 1) == 0) source.Prefetch(Following.Take(4));
        var plain = source.GetPlain(Id, Key, Description);
        int have = (int)Math.Clamp(plain.Length - offset, 0, n);
        if (have > 0) plain.AsSpan((int)offset, have).CopyTo(destination);
        destination[have..n].Clear();
        return n;
    }
}
