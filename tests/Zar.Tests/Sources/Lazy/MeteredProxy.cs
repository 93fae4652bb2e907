using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Zar.Tests.Sources.Lazy;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a registry that counts the bytes it sends back, and can lie: with
/// <see cref="CorruptRangeBodies"/>, the first body byte of every 206 (Range) response is flipped.
/// </summary>
public sealed class MeteredProxy : IDisposable
{
    readonly TcpListener _listener;
    readonly int _upstreamPort;
    readonly CancellationTokenSource _stop = new();
    long _bytesDown, _rangeRequests;

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public long BytesDown => Interlocked.Read(ref _bytesDown);
    public long RangeResponses => Interlocked.Read(ref _rangeRequests);
    public bool CorruptRangeBodies { get; set; }

    public MeteredProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    public void Reset() { Interlocked.Exchange(ref _bytesDown, 0); Interlocked.Exchange(ref _rangeRequests, 0); }

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using var _c = client;
        using var upstream = new TcpClient();
        try { await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort); }
        catch { return; }
        var cs = client.GetStream();
        var us = upstream.GetStream();
        var up = Task.Run(async () =>
        {
            var buf = new byte[65536];
            int n;
            try { while ((n = await cs.ReadAsync(buf)) > 0) await us.WriteAsync(buf.AsMemory(0, n)); }
            catch { }
            try { upstream.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        var down = Task.Run(async () =>
        {
            var buf = new byte[65536];
            var recent = new StringBuilder();
            bool inPartialHeaders = false;
            int n;
            try
            {
                while ((n = await us.ReadAsync(buf)) > 0)
                {
                    Interlocked.Add(ref _bytesDown, n);
                    for (int i = 0; i < n; i++)
                    {
                        // A tiny state machine over the response stream: "HTTP/1.1 206" starts a ranged response's
                        // headers, the blank line ends them, the next byte is the first body byte.
                        recent.Append((char)buf[i]);
                        if (recent.Length > 16) recent.Remove(0, recent.Length - 16);
                        var tail = recent.ToString();
                        if (tail.EndsWith("HTTP/1.1 206")) { inPartialHeaders = true; Interlocked.Increment(ref _rangeRequests); }
                        else if (inPartialHeaders && tail.EndsWith("\r\n\r\n"))
                        {
                            inPartialHeaders = false;
                            if (CorruptRangeBodies && i + 1 < n) buf[i + 1] ^= 0x5A;
                        }
                    }
                    await cs.WriteAsync(buf.AsMemory(0, n));
                }
            }
            catch { }
            try { client.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        await Task.WhenAll(up, down);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
