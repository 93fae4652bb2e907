using System.Net;
using System.Net.Sockets;

namespace Zar.Tests.Support;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a local server (a registry). It accepts, connects upstream and
/// copies what clients send; what the server sends back goes through <see cref="PumpDown"/>, where a
/// subclass counts, corrupts, cuts or stalls it.
/// </summary>
public abstract class LoopbackProxy : IDisposable
{
    readonly TcpListener _listener;
    readonly int _upstreamPort;
    protected readonly CancellationTokenSource Stop = new();

    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";

    protected LoopbackProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    /// <summary>Sees every chunk a client sends before it goes upstream.</summary>
    protected virtual void OnRequestBytes(ReadOnlySpan<byte> bytes) { }

    /// <summary>Copies the server's response stream <paramref name="fromServer"/> to <paramref name="toClient"/>, in its own way;
    /// returning shuts the client's side down.</summary>
    protected abstract Task PumpDown(TcpClient client, TcpClient upstream, NetworkStream fromServer, NetworkStream toClient);

    async Task AcceptLoop()
    {
        while (!Stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(Stop.Token); }
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
            try
            {
                while ((n = await cs.ReadAsync(buf)) > 0)
                {
                    OnRequestBytes(buf.AsSpan(0, n));
                    await us.WriteAsync(buf.AsMemory(0, n));
                }
            }
            catch { }
            try { upstream.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        var down = Task.Run(async () =>
        {
            try { await PumpDown(client, upstream, us, cs); }
            catch { }
            try { client.Client.Shutdown(SocketShutdown.Send); } catch { }
        });
        await Task.WhenAll(up, down);
    }

    public void Dispose()
    {
        Stop.Cancel();
        _listener.Stop();
    }
}
