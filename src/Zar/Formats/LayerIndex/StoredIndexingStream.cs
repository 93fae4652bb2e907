using Zar.IO;

namespace Zar.Formats.LayerIndex;

/// <summary>An uncompressed layer passed through unchanged: a point every <c>span</c> bytes delimits a checked span.</summary>
internal sealed class StoredIndexingStream(Stream input, IndexRecorder recorder, long span) : ReadOnlyStream
{
    long _position;

    public override int Read(Span<byte> buffer)
    {
        if (_position == 0 && recorder.Count == 0) recorder.Add(0, 0, 0, AccessPointKind.Stored, []);
        long untilPoint = recorder.LastOut + span - _position;
        int n = input.Read(buffer[..(int)Math.Min(buffer.Length, untilPoint)]);
        recorder.Consumed(buffer[..n]);
        _position += n;
        if (n > 0 && _position == recorder.LastOut + span) recorder.Add(_position, _position, 0, AccessPointKind.Stored, []);
        return n;
    }
}

/// <summary>
/// Passes a stream through and keeps its last bytes, so that bytes already handed to a reader that buffers ahead
/// (the tar reader) can be copied again by position: the header blocks of the member it just parsed.
/// </summary>
internal sealed class RetainingStream(Stream inner, int capacity) : ReadOnlyStream
{
    readonly byte[] _ring = new byte[capacity];
    long _position;

    public long Position64 => _position;

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        var data = buffer[..n];
        while (!data.IsEmpty)
        {
            int at = (int)(_position % capacity);
            int k = Math.Min(data.Length, capacity - at);
            data[..k].CopyTo(_ring.AsSpan(at));
            data = data[k..];
            _position += k;
        }
        return n;
    }

    /// <summary>Copies bytes [<paramref name="offset"/>, + destination.Length); false when they are no longer retained.</summary>
    public bool TryCopy(long offset, Span<byte> destination)
    {
        if (offset < _position - capacity || offset + destination.Length > _position) return false;
        while (!destination.IsEmpty)
        {
            int at = (int)(offset % capacity);
            int k = Math.Min(destination.Length, capacity - at);
            _ring.AsSpan(at, k).CopyTo(destination);
            destination = destination[k..];
            offset += k;
        }
        return true;
    }
}
