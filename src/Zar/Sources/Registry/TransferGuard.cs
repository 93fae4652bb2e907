using System.Diagnostics;
using Zar.IO;

namespace Zar.Sources.Registry;

/// <summary>
/// Bounds every response body the client reads (manifests, blobs, ranges, tokens): a server that sends
/// less than <see cref="RegistryClientOptions.MinTransferRate"/> over a <see cref="RegistryClientOptions.StallWindow"/>
/// has stalled, and no body may take longer than <see cref="RegistryClientOptions.RequestTimeout"/> plus its
/// expected size at <see cref="RegistryClientOptions.DeadlineRate"/>. Both end the read with an
/// <see cref="IOException"/>, which the client treats like a dropped connection (retried, resumed).
/// Only time spent waiting for the server counts, not time the consumer spends between reads.
/// </summary>
sealed class TransferGuardHandler(HttpMessageHandler inner, RegistryClientOptions options) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var resp = await base.SendAsync(request, ct).ConfigureAwait(false);
        var original = resp.Content;
        var body = await original.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var guarded = new StreamContent(new TransferGuardStream(body, original.Headers.ContentLength, options));
        foreach (var h in original.Headers) guarded.Headers.TryAddWithoutValidation(h.Key, h.Value);
        resp.Content = guarded;
        return resp;
    }
}

sealed class TransferGuardStream(Stream inner, long? expected, RegistryClientOptions options) : AsyncReadOnlyStream
{
    readonly Stopwatch _waiting = new();
    readonly TimeSpan _deadline = options.RequestTimeout
        + TimeSpan.FromSeconds((double)(expected ?? 0) / Math.Max(1, options.DeadlineRate));
    readonly long _windowMinimum = (long)(options.MinTransferRate * options.StallWindow.TotalSeconds);
    TimeSpan _windowStart;
    long _windowBytes, _total;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.IsEmpty) return 0;
        var limit = Limit();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(limit.After > TimeSpan.Zero ? limit.After : TimeSpan.FromTicks(1));
        _waiting.Start();
        int n;
        try { n = await inner.ReadAsync(buffer, timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new IOException(limit.Reason()); }
        finally { _waiting.Stop(); }
        _total += n;
        _windowBytes += n;
        var waited = _waiting.Elapsed;
        if (waited > _deadline) throw new IOException(Limit().Reason());
        while (waited - _windowStart >= options.StallWindow)
        {
            if (_windowBytes < _windowMinimum) throw new IOException(StallReason());
            _windowStart += options.StallWindow;
            _windowBytes = 0;
        }
        return n;
    }

    /// <summary>How long the next read may wait, and why it would fail.</summary>
    (TimeSpan After, Func<string> Reason) Limit()
    {
        var waited = _waiting.Elapsed;
        var toDeadline = _deadline - waited;
        // With enough bytes in this window, the next window must still reach the minimum.
        var windowEnd = _windowStart + options.StallWindow * (_windowBytes >= _windowMinimum ? 2 : 1);
        var toStall = windowEnd - waited;
        return toStall < toDeadline ? (toStall, StallReason) : (toDeadline, DeadlineReason);
    }

    string StallReason() =>
        $"stalled: less than {options.MinTransferRate} bytes/s for {options.StallWindow.TotalSeconds:0.#} s after {_total} bytes";

    string DeadlineReason() =>
        $"took longer than {_deadline.TotalSeconds:0.#} s for {(expected is long e ? $"{e} bytes" : "a response")} (at least {options.DeadlineRate} bytes/s) after {_total} bytes";


    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
