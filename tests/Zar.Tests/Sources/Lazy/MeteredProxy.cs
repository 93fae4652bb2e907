using System.Net.Sockets;
using System.Text;

using Zar.Tests.Support;

namespace Zar.Tests.Sources.Lazy;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a registry that counts the bytes it sends back, and can lie: with
/// <see cref="CorruptRangeBodies"/>, the first body byte of every 206 (Range) response is flipped.
/// </summary>
public sealed class MeteredProxy(int upstreamPort) : LoopbackProxy(upstreamPort)
{
    long _bytesDown, _rangeRequests;

    public long BytesDown => Interlocked.Read(ref _bytesDown);
    public long RangeResponses => Interlocked.Read(ref _rangeRequests);
    public bool CorruptRangeBodies { get; set; }

    public void Reset() { Interlocked.Exchange(ref _bytesDown, 0); Interlocked.Exchange(ref _rangeRequests, 0); }

    protected override async Task PumpDown(TcpClient client, TcpClient upstream, NetworkStream us, NetworkStream cs)
    {
        var buf = new byte[65536];
        var recent = new StringBuilder();
        bool inPartialHeaders = false;
        int n;
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
}
