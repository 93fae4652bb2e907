using System.Net;

namespace Zar.Stores;

/// <summary>
/// <c>http(s)://host[:port]/base</c>, read-only: a dir store served over HTTP. GET <c>base/hex[0:2]/hex</c>,
/// and on 404 the flat <c>base/hex</c> (a bucket's HTTP endpoint, an old flat dir store).
/// </summary>
public sealed class HttpStore : IContentStore
{
    readonly string _base;
    readonly HttpClient _http;

    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public HttpStore(string url)
    {
        var u = StoreUrl.Parse(url);
        if (u.Host.Length == 0) throw new ContentStoreException($"{Description}: needs a host");
        _base = url.TrimEnd('/');
        Description = StoreUrl.Redacted(url);
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = Timeout,
        };
    }

    public string Description { get; }
    public string RouteUrl(bool stripPassword) => stripPassword ? StoreUrl.Parse(_base).WithoutPassword : _base;
    public bool CanWrite => false;

    public bool Exists(byte[] id) => Get(id) != null;

    public byte[]? Get(byte[] id)
    {
        var hex = ChunkCodec.Hex(id);
        return Fetch($"{_base}/{hex[..2]}/{hex}") ?? Fetch($"{_base}/{hex}");
    }

    byte[]? Fetch(string url) => StoreRetry.Run(Description, "read a blob", () =>
    {
        using var resp = _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult();
        if (resp.StatusCode == HttpStatusCode.NotFound) return null;
        if ((int)resp.StatusCode >= 500) throw new HttpRequestException($"HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}");
        if (resp.StatusCode != HttpStatusCode.OK) throw new ContentStoreException($"{Description}: GET {StoreUrl.Redacted(url)}: HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}");
        return resp.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
    }, e => e is HttpRequestException or IOException or TaskCanceledException);

    public void Put(byte[] id, ReadOnlyMemory<byte> blob) =>
        throw new ContentStoreException($"{Description}: an http store is read-only (write to a dir, zdb or s3 store)");

    public void Dispose() => _http.Dispose();
}
