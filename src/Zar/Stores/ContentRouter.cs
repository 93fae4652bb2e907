using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Zar.Stores;

/// <summary>One store and the inclusive range of id first bytes it serves (an fl's <c>route</c> row).</summary>
public sealed record StoreRoute(byte Start, byte End, IContentStore Store)
{
    public bool Covers(byte first) => first >= Start && first <= End;
    public string Range => $"{Start:x2}-{End:x2}";
}

/// <summary>
/// Spreads blobs over stores by the first byte of their id, as rfs's router does: a blob goes to every store
/// whose range covers that byte (overlapping ranges replicate), and a read tries the covering stores until
/// one gives a blob that hashes to its id. A store that fails is tried last for a while, so a dead replica
/// costs one timeout, not one per read. Owns its stores.
/// </summary>
public sealed partial class ContentRouter : IContentStore
{
    readonly StoreRoute[] _routes;
    readonly ConcurrentDictionary<IContentStore, long> _downUntil = new();
    static readonly TimeSpan DownFor = TimeSpan.FromSeconds(30);

    public IReadOnlyList<StoreRoute> Routes => _routes;

    public ContentRouter(IEnumerable<StoreRoute> routes)
    {
        _routes = routes.ToArray();
        if (_routes.Length == 0) throw new ContentStoreException("no store given (-s [xx-yy=]URL)");
    }

    /// <summary>Opens the stores of command-line specs <c>[xx-yy=]URL</c> (no range: 00-ff).</summary>
    public static ContentRouter Open(IEnumerable<string> specs)
    {
        var routes = new List<StoreRoute>();
        try
        {
            foreach (var spec in specs)
            {
                var (start, end, url) = ParseSpec(spec);
                routes.Add(new StoreRoute(start, end, ContentStores.Open(url)));
            }
            return new ContentRouter(routes);
        }
        catch
        {
            foreach (var r in routes) r.Store.Dispose();
            throw;
        }
    }

    [GeneratedRegex("^([0-9a-fA-F]{2})-([0-9a-fA-F]{2})=")]
    private static partial Regex RangePrefix();

    public static (byte Start, byte End, string Url) ParseSpec(string spec)
    {
        var m = RangePrefix().Match(spec);
        if (!m.Success) return (0x00, 0xff, spec);
        byte start = Convert.ToByte(m.Groups[1].Value, 16), end = Convert.ToByte(m.Groups[2].Value, 16);
        if (start > end) throw new ContentStoreException($"{StoreUrl.Redacted(spec)}: range {start:x2}-{end:x2} is empty (start after end)");
        return (start, end, spec[m.Length..]);
    }

    /// <summary>Every id first byte 00..ff must have a writable store; checked before anything is written.</summary>
    public void RequireWritableCoverage()
    {
        foreach (var r in _routes)
            if (!r.Store.CanWrite) throw new ContentStoreException($"{r.Store.Description}: this store is read-only; cannot write blobs to it");
        var gaps = new List<string>();
        int b = 0;
        while (b <= 0xff)
        {
            if (_routes.Any(r => r.Covers((byte)b))) { b++; continue; }
            int from = b;
            while (b <= 0xff && !_routes.Any(r => r.Covers((byte)b))) b++;
            gaps.Add($"{from:x2}-{b - 1:x2}");
        }
        if (gaps.Count > 0) throw new ContentStoreException($"the stores leave blob ids starting with {string.Join(", ", gaps)} with nowhere to go (ranges must cover 00-ff)");
    }

    public IEnumerable<StoreRoute> RoutesFor(byte first) => _routes.Where(r => r.Covers(first));

    public string Description => string.Join(", ", _routes.Select(r => $"{r.Range}={r.Store.Description}"));
    public string RouteUrl(bool stripPassword) => throw new NotSupportedException("a router records one route per store");
    public bool CanWrite => _routes.All(r => r.Store.CanWrite);

    public bool Exists(byte[] id)
    {
        var stores = RoutesFor(id[0]).ToList();
        return stores.Count > 0 && stores.All(r => r.Store.Exists(id));
    }

    /// <summary>
    /// The blob from the first covering store that has it intact (BLAKE2b of the bytes = id), healthy stores
    /// first in random order; null when every store says it has no such blob. A store that fails or returns
    /// damaged bytes is skipped; when none succeeds the errors are reported together.
    /// </summary>
    public byte[]? Get(byte[] id)
    {
        var candidates = Order(RoutesFor(id[0]).Select(r => r.Store).Distinct().ToList());
        if (candidates.Count == 0) throw new ContentStoreException($"no store serves blob {ChunkCodec.Hex(id)} (no route covers {id[0]:x2})");
        var errors = new List<string>();
        foreach (var store in candidates)
        {
            try
            {
                var blob = store.Get(id);
                if (blob == null) continue;
                if (ChunkCodec.MatchesId(blob, id)) return blob;
                errors.Add($"{store.Description}: blob {ChunkCodec.Hex(id)} is corrupted (its BLAKE2b is not its id)");
            }
            catch (ContentStoreException e)
            {
                _downUntil[store] = DateTime.UtcNow.Add(DownFor).Ticks;
                errors.Add(e.Message);
            }
        }
        if (errors.Count == 0) return null;
        throw new ContentStoreException(string.Join("; ", errors));
    }

    List<IContentStore> Order(List<IContentStore> stores)
    {
        long now = DateTime.UtcNow.Ticks;
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(stores));
        return stores.OrderBy(s => _downUntil.TryGetValue(s, out var until) && until > now ? 1 : 0).ToList();
    }

    public void Put(byte[] id, ReadOnlyMemory<byte> blob) => PutMissing(id, blob);

    /// <summary>Writes the blob to every covering store that lacks it; returns how many stores got it and how many had it already.</summary>
    public (int Written, int Present) PutMissing(byte[] id, ReadOnlyMemory<byte> blob)
    {
        int written = 0, present = 0, covering = 0;
        foreach (var r in _routes)
        {
            if (!r.Covers(id[0])) continue;
            covering++;
            if (r.Store.Exists(id)) { present++; continue; }
            r.Store.Put(id, blob);
            written++;
        }
        if (covering == 0) throw new ContentStoreException($"blob {ChunkCodec.Hex(id)} is not routable: no store covers {id[0]:x2}");
        return (written, present);
    }

    public void Dispose()
    {
        foreach (var s in _routes.Select(r => r.Store).Distinct()) s.Dispose();
    }
}

/// <summary>Opens a store by its URL scheme.</summary>
public static class ContentStores
{
    public static IContentStore Open(string url)
    {
        int sep = url.IndexOf("://", StringComparison.Ordinal);
        var scheme = sep > 0 ? url[..sep].ToLowerInvariant() : "";
        return scheme switch
        {
            "dir" => DirStore.FromUrl(url),
            "zdb" => new ZdbStore(url),
            "s3" or "s3s" => new S3Store(url),
            "http" or "https" => new HttpStore(url),
            "" => throw new ContentStoreException($"{StoreUrl.Redacted(url)}: not a store URL (expected dir://, zdb://, s3://, s3s://, http:// or https://)"),
            _ => throw new ContentStoreException($"{StoreUrl.Redacted(url)}: unknown store type '{scheme}' (expected dir, zdb, s3, s3s, http or https)"),
        };
    }
}
