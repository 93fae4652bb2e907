using Zar.IO;
using Zar.Model;
using Zar.Native;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// Decompresses a gzip blob (any number of members) as a stream while recording zran-style access points:
/// at every member start (no window needed) and at the first non-final deflate block boundary after each
/// <c>span</c> bytes of output (with the preceding 32 KiB as its window). One pass; the output history kept
/// for windows is the tail of the output buffer itself.
/// </summary>
internal sealed class GzipIndexingStream : ReadOnlyStream
{
    const int WindowSize = 32768;
    const int OutChunk = 256 * 1024;

    readonly Stream _input;
    readonly IndexRecorder _recorder;
    readonly long _span;
    readonly string _description;
    readonly ZlibInflater _inflater = new(ZlibInflater.Gzip);
    readonly byte[] _in = new byte[256 * 1024];
    int _inPos, _inEnd;
    bool _inputDone;
    readonly byte[] _out = new byte[WindowSize + OutChunk];
    int _outRead, _outEnd;
    long _totIn, _totOut, _memberStartOut;
    bool _memberStart = true, _done;
    byte _lastInByte;

    public GzipIndexingStream(Stream input, IndexRecorder recorder, long span, string description)
    {
        _input = input;
        _recorder = recorder;
        _span = span;
        _description = description;
    }

    public long CompressedConsumed => _totIn;

    public override int Read(Span<byte> buffer)
    {
        while (_outRead == _outEnd)
        {
            if (_done) return 0;
            Step();
        }
        int n = Math.Min(buffer.Length, _outEnd - _outRead);
        _out.AsSpan(_outRead, n).CopyTo(buffer);
        _outRead += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    void Step()
    {
        if (_outEnd == _out.Length)
        {
            // Keep the last 32 KiB as history for windows; everything before was handed out.
            _out.AsSpan(_outEnd - WindowSize, WindowSize).CopyTo(_out);
            _outRead = _outEnd = WindowSize;
        }
        if (_inPos == _inEnd) Refill();
        int rc = _inflater.Inflate(_in.AsSpan(_inPos, _inEnd - _inPos), _out.AsSpan(_outEnd), ZlibInflater.Z_BLOCK, out int consumed, out int produced);
        if (consumed > 0)
        {
            _recorder.Consumed(_in.AsSpan(_inPos, consumed));
            _lastInByte = _in[_inPos + consumed - 1];
        }
        _inPos += consumed;
        _totIn += consumed;
        _outEnd += produced;
        _totOut += produced;
        if (rc == ZlibInflater.Z_STREAM_END)
        {
            // Another member may follow; trailing zeros after the last one are tolerated (some writers pad).
            _memberStart = true;
            _memberStartOut = _totOut;
            if (!SkipPaddingOrMore()) { _done = true; return; }
            _inflater.Reset(ZlibInflater.Gzip);
            return;
        }
        if (rc == ZlibInflater.Z_BUF_ERROR && consumed == 0 && produced == 0)
        {
            if (_inputDone) throw new ZarFormatException($"{_description}: gzip stream is truncated (ends inside a member, after {_totIn} bytes)");
            return;
        }
        if (rc < 0)
            throw new ZarFormatException($"{_description}: corrupt gzip data at compressed byte {_totIn}: {_inflater.Message} ({rc})");
        int dataType = _inflater.DataType;
        if ((dataType & 128) == 0 || (dataType & 64) != 0) return;
        if (_memberStart)
        {
            _memberStart = false;
            _recorder.Add(_totOut, _totIn, 0, AccessPointKind.GzipMemberStart, []);
        }
        else if (_totOut - _recorder.LastOut >= _span)
        {
            int windowLength = (int)Math.Min(WindowSize, _totOut - _memberStartOut);
            int bits = dataType & 7;
            _recorder.Add(_totOut, _totIn, bits, AccessPointKind.DeflateBlock, _out.AsSpan(_outEnd - windowLength, windowLength), _lastInByte);
        }
    }

    bool Refill()
    {
        if (_inputDone) return false;
        _inPos = 0;
        _inEnd = StreamSkip.ReadFull(_input, _in);
        if (_inEnd == 0) { _inputDone = true; return false; }
        return true;
    }

    /// <summary>After a member: true when another gzip member follows; false at the end (zeros only).</summary>
    bool SkipPaddingOrMore()
    {
        while (true)
        {
            if (_inPos == _inEnd && !Refill()) return false;
            if (_in[_inPos] != 0) return true;
            int zeros = 0;
            while (_inPos + zeros < _inEnd && _in[_inPos + zeros] == 0) zeros++;
            if (_inPos + zeros < _inEnd)
                throw new ZarFormatException($"{_description}: garbage after a gzip member at compressed byte {_totIn + zeros}");
            _recorder.Consumed(_in.AsSpan(_inPos, zeros));
            _inPos += zeros;
            _totIn += zeros;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inflater.Dispose();
        base.Dispose(disposing);
    }
}
