using System.Net;
using System.Net.Http.Headers;
using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// A blob body that survives broken connections: on a transport error it asks again from the current position
/// (Range), accepting 206 at that offset or a 200 full body that it skips forward.
/// </summary>
internal sealed class ResumableBlobStream(RegistryClient client, RequestSpec spec, HttpResponseMessage response, Stream body, long? total,
    RegistryClient.RetryState retry) : AsyncReadOnlyStream
{
    HttpResponseMessage _response = response;
    Stream _body = body;
    long _position;
    long _positionAtLastFailure = -1;
    public int Resumes { get; private set; }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        while (true)
        {
            try
            {
                int n;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    idle.CancelAfter(client.Options.BodyIdleTimeout);
                    try { n = await _body.ReadAsync(buffer, idle.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        throw new IOException($"no data for {client.Options.BodyIdleTimeout.TotalSeconds:0.#} s");
                    }
                }
                if (n == 0 && total is long t && _position < t)
                    throw new IOException($"connection closed after {_position} of {t} bytes");
                _position += n;
                return n;
            }
            catch (Exception e) when (RegistryClient.IsTransient(e, ct))
            {
                // Real progress earns a fresh retry budget; a trickle (less than a stall window's worth) does not,
                // or a server sending a byte per attempt would be retried forever.
                long progress = _position - Math.Max(0, _positionAtLastFailure);
                if (progress > 0 && progress >= client.Options.MinTransferRate * client.Options.StallWindow.TotalSeconds) retry.Reset();
                _positionAtLastFailure = _position;
                await retry.WaitOrThrowAsync(spec.What, RegistryClient.Describe(e), null, e, ct).ConfigureAwait(false);
                // Reopening reads too (skipping to the position): its failures spend the same budget.
                while (true)
                {
                    try { await ReopenAsync(ct).ConfigureAwait(false); break; }
                    catch (Exception again) when (RegistryClient.IsTransient(again, ct))
                    {
                        await retry.WaitOrThrowAsync(spec.What, RegistryClient.Describe(again), null, again, ct).ConfigureAwait(false);
                    }
                }
            }
        }
    }

    async Task ReopenAsync(CancellationToken ct)
    {
        _body.Dispose();
        _response.Dispose();
        long from = _position;
        var again = spec with
        {
            Configure = req =>
            {
                spec.Configure?.Invoke(req);
                if (from > 0) req.Headers.Range = new RangeHeaderValue(from, null);
            },
        };
        var resp = await client.SendAsync(again, retry, ct).ConfigureAwait(false);
        try
        {
            Stream body;
            if (resp.StatusCode == HttpStatusCode.PartialContent && from > 0)
            {
                var cr = resp.Content.Headers.ContentRange;
                if (cr is null || cr.From != from || (total is long t && cr.Length is long l && l != t))
                    throw new ZarFormatException($"{spec.What}: resumed at {from} but the registry answered Content-Range '{cr}'");
                body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            }
            else if (resp.StatusCode == HttpStatusCode.OK)
            {
                body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await RegistryClient.SkipAsync(body, from, spec.What, ct).ConfigureAwait(false);
            }
            else
            {
                throw await client.ErrorAsync(resp, spec.What, ct).ConfigureAwait(false);
            }
            Resumes++;
            _response = resp;
            _body = body;
        }
        catch
        {
            resp.Dispose();
            // Keep Dispose safe: the old stream objects are already disposed.
            throw;
        }
    }

    public override long Length => total ?? throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _body.Dispose(); _response.Dispose(); }
        base.Dispose(disposing);
    }
}
