using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Zar.Stores;

/// <summary>
/// <c>zdb://[user[:password]@]host[:port][/namespace]</c> (default port 9900) or <c>zdb:///path/to/socket</c>:
/// a 0-db server in user-key mode, blobs under their raw 32-byte id. As rfs does, a connection SELECTs the
/// namespace (with the URL's password, used as typed) unless it is absent or <c>default</c>; the password is
/// never sent as AUTH. zdb answers SET with the key, or nil when the value is already there; Redis answers
/// +OK: all mean stored.
/// </summary>
public sealed class ZdbStore : IContentStore
{
    readonly StoreUrl _url;
    readonly string? _host, _socketPath, _namespace;
    readonly int _port;
    readonly ConcurrentBag<RespConnection> _idle = new();
    volatile bool _disposed;

    public static TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);
    public static TimeSpan IoTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public ZdbStore(string url)
    {
        _url = StoreUrl.Parse(url);
        if (_url.Host.Length == 0)
        {
            if (_url.Path.Length == 0) throw new ContentStoreException($"{Description}: needs a host (zdb://host:9900/namespace) or a socket path (zdb:///path)");
            _socketPath = Uri.UnescapeDataString(_url.Path);
        }
        else
        {
            _host = _url.Host;
            _port = _url.Port ?? 9900;
            if (_url.Path.Length > 0)
            {
                _namespace = _url.Path[(_url.Path.LastIndexOf('/') + 1)..];
                if (_namespace.Length == 0) throw new ContentStoreException($"{Description}: empty namespace (drop the trailing '/')");
            }
        }
    }

    public string Description => StoreUrl.Redacted(_url.Text);
    public string RouteUrl(bool stripPassword) => stripPassword ? _url.WithoutPassword : _url.Text;
    public bool CanWrite => true;

    public bool Exists(byte[] id) => Call("check for a blob", c => c.Call("EXISTS", id)).Integer == 1;

    public byte[]? Get(byte[] id)
    {
        var r = Call("read a blob", c => c.Call("GET", id));
        if (r.Bulk is { Length: 0 }) throw new ContentStoreException($"{Description}: blob {ChunkCodec.Hex(id)} is empty");
        return r.Bulk;
    }

    public void Put(byte[] id, ReadOnlyMemory<byte> blob) => Call("store a blob", c => c.Call("SET", id, blob));

    /// <summary>Runs one command on a pooled connection, retrying network failures on fresh connections.</summary>
    RespReply Call(string what, Func<RespConnection, RespReply> op)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var reply = StoreRetry.Run(Description, what, () =>
        {
            var conn = Rent();
            try
            {
                var r = op(conn);
                _idle.Add(conn);
                return r;
            }
            catch
            {
                conn.Dispose();
                throw;
            }
        }, IsTransient);
        if (reply.IsError) throw new ContentStoreException($"{Description}: cannot {what}: {reply.Text}");
        return reply;
    }

    static bool IsTransient(Exception e) => e is SocketException or IOException or TimeoutException;

    RespConnection Rent()
    {
        if (_idle.TryTake(out var c)) return c;
        c = RespConnection.Connect(_host, _port, _socketPath, ConnectTimeout, IoTimeout);
        if (_namespace is { } ns && ns != "default")
        {
            var r = _url.Password is { } pw ? c.Call("SELECT", ns, pw) : c.Call("SELECT", ns);
            if (r.IsError)
            {
                c.Dispose();
                throw new ContentStoreException($"{Description}: cannot select namespace '{ns}': {r.Text}");
            }
        }
        return c;
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var c)) c.Dispose();
    }
}
