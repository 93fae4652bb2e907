using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Zar.IO;

/// <summary>
/// Reads its source on a thread of its own, a few buffers ahead of the reader, so that producing the bytes
/// (inflating a layer and hashing the blob) and consuming them (hashing the tar, parsing headers, spilling)
/// run on two cores. An error of the source is thrown, as it was, by the read that reaches it.
/// Disposing waits for the reading thread before the source may go.
/// </summary>
public sealed class ReadAheadStream : ReadOnlyStream
{
    const int ChunkSize = 1 << 20;
    readonly Stream _source;
    readonly bool _leaveOpen;
    readonly BlockingCollection<(byte[] Buffer, int Length)> _full;
    readonly ConcurrentBag<byte[]> _free = new();
    readonly CancellationTokenSource _stop = new();
    readonly Thread _thread;
    ExceptionDispatchInfo? _error;
    byte[]? _current;
    int _currentLength, _currentOffset;
    bool _ended, _disposed;

    public ReadAheadStream(Stream source, int depth = 4, bool leaveOpen = false)
    {
        _source = source;
        _leaveOpen = leaveOpen;
        _full = new BlockingCollection<(byte[], int)>(depth);
        _thread = new Thread(Produce) { IsBackground = true, Name = "zar read-ahead" };
        _thread.Start();
    }

    void Produce()
    {
        try
        {
            while (true)
            {
                var buffer = _free.TryTake(out var b) ? b : new byte[ChunkSize];
                int filled = 0;
                while (filled < buffer.Length)
                {
                    int n = _source.Read(buffer, filled, buffer.Length - filled);
                    if (n <= 0) break;
                    filled += n;
                }
                _full.Add((buffer, filled), _stop.Token);
                if (filled == 0) return;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            _error = ExceptionDispatchInfo.Capture(e);
            try { _full.Add((Array.Empty<byte>(), -1), _stop.Token); } catch (OperationCanceledException) { }
        }
    }

    public override int Read(Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (destination.Length == 0) return 0;
        while (_current == null || _currentOffset == _currentLength)
        {
            if (_ended) return 0;
            if (_current != null) _free.Add(_current);
            _current = null;
            var (buffer, length) = _full.Take();
            if (length < 0) { _ended = true; _error!.Throw(); }
            if (length == 0) { _ended = true; return 0; }
            (_current, _currentLength, _currentOffset) = (buffer, length, 0);
        }
        int n = Math.Min(destination.Length, _currentLength - _currentOffset);
        _current.AsSpan(_currentOffset, n).CopyTo(destination);
        _currentOffset += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _stop.Cancel();
            _thread.Join();
            _full.Dispose();
            _stop.Dispose();
            if (!_leaveOpen) _source.Dispose();
        }
        base.Dispose(disposing);
    }
}
