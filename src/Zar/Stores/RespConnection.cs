using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Zar.Stores;

/// <summary>A RESP reply: simple string, error, integer, bulk string (null for nil) or array.</summary>
public sealed record RespReply(char Kind, string? Text, long Integer, byte[]? Bulk, RespReply[]? Items)
{
    public bool IsError => Kind == '-';
    public bool IsNil => Kind is '$' or '*' && Bulk == null && Items == null;
}

/// <summary>
/// One connection speaking RESP, the Redis protocol that zdb speaks too. A small client of our own
/// because StackExchange.Redis (3.4) cannot talk to zdb: its connection handshake (CLIENT, INFO,
/// CONFIG, ECHO, a subscription connection) fails against zdb 2.0.7 ("Returned, but incorrectly"),
/// and its multiplexer owns SELECT as an integer database index, while zdb namespaces are names
/// selected per connection, with a password. Requests are always arrays of bulk strings (zdb rejects
/// inline commands). Not thread-safe: a pool hands each connection to one caller at a time.
/// </summary>
public sealed class RespConnection : IDisposable
{
    readonly Socket _socket;
    readonly BufferedStream _stream;

    RespConnection(Socket socket, TimeSpan ioTimeout)
    {
        _socket = socket;
        socket.ReceiveTimeout = socket.SendTimeout = (int)ioTimeout.TotalMilliseconds;
        _stream = new BufferedStream(new NetworkStream(socket, ownsSocket: true), 1 << 16);
    }

    /// <summary>Connects to host:port, or to the unix socket <paramref name="unixSocket"/>; never waits longer than <paramref name="connectTimeout"/>.</summary>
    public static RespConnection Connect(string? host, int port, string? unixSocket, TimeSpan connectTimeout, TimeSpan ioTimeout)
    {
        Socket socket;
        EndPoint endPoint;
        if (unixSocket != null)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            endPoint = new UnixDomainSocketEndPoint(unixSocket);
        }
        else
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            endPoint = System.Net.IPAddress.TryParse(host, out var ip) ? new System.Net.IPEndPoint(ip, port) : new DnsEndPoint(host!, port);
        }
        try
        {
            using var cts = new CancellationTokenSource(connectTimeout);
            socket.ConnectAsync(endPoint, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new TimeoutException($"no answer within {connectTimeout.TotalSeconds:0.#} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new RespConnection(socket, ioTimeout);
    }

    public RespReply Call(params object[] args)
    {
        Write(args);
        _stream.Flush();
        return ReadReply();
    }

    void Write(object[] args)
    {
        WriteLine('*', args.Length);
        foreach (var a in args)
        {
            ReadOnlySpan<byte> bytes = a switch
            {
                string s => Encoding.UTF8.GetBytes(s),
                byte[] b => b,
                ReadOnlyMemory<byte> m => m.Span,
                _ => throw new ArgumentException($"RESP argument of type {a.GetType().Name}"),
            };
            WriteLine('$', bytes.Length);
            _stream.Write(bytes);
            _stream.Write("\r\n"u8);
        }
    }

    void WriteLine(char kind, long n)
    {
        Span<byte> buf = stackalloc byte[24];
        buf[0] = (byte)kind;
        Utf8Formatter.TryFormat(n, buf[1..], out int len);
        buf[1 + len] = (byte)'\r';
        buf[2 + len] = (byte)'\n';
        _stream.Write(buf[..(len + 3)]);
    }

    RespReply ReadReply()
    {
        int kind = _stream.ReadByte();
        if (kind < 0) throw new IOException("the server closed the connection");
        var line = ReadLine();
        switch ((char)kind)
        {
            case '+': return new RespReply('+', line, 0, null, null);
            case '-': return new RespReply('-', line, 0, null, null);
            case ':': return new RespReply(':', null, ParseInt(line), null, null);
            case '$':
            {
                long len = ParseInt(line);
                if (len < 0) return new RespReply('$', null, 0, null, null);
                if (len > 64 << 20) throw new IOException($"bulk reply of {len} bytes is too large");
                var data = new byte[len];
                _stream.ReadExactly(data);
                if (_stream.ReadByte() != '\r' || _stream.ReadByte() != '\n') throw new IOException("malformed bulk reply");
                return new RespReply('$', null, 0, data, null);
            }
            case '*':
            {
                long n = ParseInt(line);
                if (n < 0) return new RespReply('*', null, 0, null, null);
                if (n > 1 << 20) throw new IOException($"array reply of {n} items is too large");
                var items = new RespReply[n];
                for (int i = 0; i < n; i++) items[i] = ReadReply();
                return new RespReply('*', null, 0, null, items);
            }
            default: throw new IOException($"not a RESP reply (first byte 0x{kind:x2})");
        }
    }

    string ReadLine()
    {
        var sb = new StringBuilder();
        while (true)
        {
            int b = _stream.ReadByte();
            if (b < 0) throw new IOException("the server closed the connection");
            if (b == '\r')
            {
                if (_stream.ReadByte() != '\n') throw new IOException("malformed RESP line");
                return sb.ToString();
            }
            if (sb.Length > 64 << 10) throw new IOException("RESP line too long");
            sb.Append((char)b);
        }
    }

    static long ParseInt(string s) =>
        long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new IOException($"malformed RESP integer '{s}'");

    public void Dispose() => _stream.Dispose();
}
