namespace Zar.Sources.Lazy;

/// <summary>
/// The bounded cache of decompressed spans shared by the lazy layers of a process: least recently used spans are
/// dropped first, and the bytes held never exceed <see cref="Limit"/> (a span larger than the limit is not kept).
/// Keys are the layer's blob digest plus the span number, so layers shared by images share cache entries.
/// Thread-safe. With a <see cref="SpanStore"/>, spans also go to disk (bounded too) and are found there by later runs.
/// </summary>
public sealed class SpanCache(long limit, SpanStore? disk = null)
{
    public const long DefaultLimit = 256L << 20;

    readonly object _lock = new();
    readonly Dictionary<(string, int), LinkedListNode<(string Blob, int Span, byte[] Data)>> _map = new();
    readonly LinkedList<(string Blob, int Span, byte[] Data)> _lru = new();

    public long Limit { get; } = limit;
    public SpanStore? Disk { get; } = disk;
    /// <summary>Bytes held now.</summary>
    public long Size { get; private set; }
    /// <summary>The most bytes ever held at once (what tests check against <see cref="Limit"/>).</summary>
    public long PeakSize { get; private set; }
    public long Hits { get; private set; }
    public long Misses { get; private set; }

    /// <summary>In memory now (no disk look-up, no LRU touch).</summary>
    public bool Contains(string blob, int span)
    {
        lock (_lock) return _map.ContainsKey((blob, span));
    }

    public byte[]? TryGet(string blob, int span)
    {
        lock (_lock)
        {
            if (_map.TryGetValue((blob, span), out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                Hits++;
                return node.Value.Data;
            }
        }
        if (Disk?.TryGet(blob, span) is { } stored)
        {
            lock (_lock) Hits++;
            PutMemory(blob, span, stored);
            return stored;
        }
        lock (_lock) Misses++;
        return null;
    }

    public void Put(string blob, int span, byte[] data)
    {
        Disk?.Put(blob, span, data);
        PutMemory(blob, span, data);
    }

    void PutMemory(string blob, int span, byte[] data)
    {
        if (data.Length > Limit) return;
        lock (_lock)
        {
            if (_map.ContainsKey((blob, span))) return;
            while (Size + data.Length > Limit && _lru.Last is { } oldest)
            {
                _lru.RemoveLast();
                _map.Remove((oldest.Value.Blob, oldest.Value.Span));
                Size -= oldest.Value.Data.Length;
            }
            _map[(blob, span)] = _lru.AddFirst((blob, span, data));
            Size += data.Length;
            PeakSize = Math.Max(PeakSize, Size);
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _map.Clear();
            _lru.Clear();
            Size = 0;
        }
    }
}
