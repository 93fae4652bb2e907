using Zar.Formats.LayerIndex;
using Zar.IO;

namespace Zar.Sources.Lazy;

/// <summary>
/// The uncompressed tar of a layer as its index remembers it: the members' header bytes at their offsets and
/// zeros where file data would be. Seekable, so the tar reader skips the data: feeding it this stream gives the
/// same entries and data offsets as the real tar, without fetching a byte of the layer.
/// </summary>
internal sealed class IndexedTarStream(LayerIndex index) : ReadOnlyStream
{
    long _position;
    int _next;

    public override bool CanSeek => true;
    public override long Length => index.Header.UncompressedSize;
    public override long Position { get => _position; set => Seek(value, SeekOrigin.Begin); }

    public override long Seek(long offset, SeekOrigin origin)
    {
        _position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => Length + offset };
        // Members are in tar order: find the first whose headers end after the position.
        int lo = 0, hi = index.Toc.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            var r = index.Toc[mid];
            if (r.HeaderOffset + r.HeaderLength <= _position) lo = mid + 1; else hi = mid;
        }
        _next = lo;
        return _position;
    }

    public override int Read(Span<byte> buffer)
    {
        int want = (int)Math.Min(buffer.Length, Length - _position);
        if (want <= 0) return 0;
        var dest = buffer[..want];
        dest.Clear();
        long end = _position + want;
        while (_next < index.Toc.Count && index.Toc[_next].HeaderOffset < end)
        {
            var r = index.Toc[_next];
            long from = Math.Max(r.HeaderOffset, _position), to = Math.Min(r.HeaderOffset + r.HeaderLength, end);
            if (to > from)
                index.HeaderBytes(_next).Slice((int)(from - r.HeaderOffset), (int)(to - from)).CopyTo(dest[(int)(from - _position)..]);
            if (r.HeaderOffset + r.HeaderLength > end) break;
            _next++;
        }
        _position = end;
        return want;
    }
}
