using Zar.IO;
using Zar.Model;
using ZstdSharp.Unsafe;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// Decompresses a zstd blob as a stream while recording a point at every frame start: frames are independent,
/// so multi-frame layers (zstd:chunked, seekable zstd, concatenated frames) are seekable with no windows.
/// A frame can only be entered at its start, so a single-frame layer gets one point (read from the start).
/// Uses ZstdSharp's streaming API directly because only it says where a frame ends (a return value of 0).
/// </summary>
internal sealed unsafe class ZstdIndexingStream : ReadOnlyStream
{
    readonly Stream _input;
    readonly IndexRecorder _recorder;
    readonly string _description;
    readonly byte[] _in = new byte[256 * 1024];
    int _inPos, _inEnd;
    bool _inputDone, _frameStart = true;
    long _totIn, _totOut;
    ZSTD_DCtx_s* _ctx = Methods.ZSTD_createDCtx();

    public ZstdIndexingStream(Stream input, IndexRecorder recorder, string description)
    {
        _input = input;
        _recorder = recorder;
        _description = description;
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            if (_inPos == _inEnd && !_inputDone)
            {
                _inPos = 0;
                _inEnd = StreamSkip.ReadFull(_input, _in);
                if (_inEnd == 0) _inputDone = true;
            }
            if (_inPos == _inEnd)
            {
                if (_frameStart) return 0;
                throw new ZarFormatException($"{_description}: zstd stream is truncated (ends inside a frame, after {_totIn} bytes)");
            }
            if (_frameStart)
            {
                _recorder.Add(_totOut, _totIn, 0, AccessPointKind.ZstdFrameStart, []);
                _frameStart = false;
            }
            nuint rc;
            int consumed, produced;
            fixed (byte* i = _in)
            fixed (byte* o = buffer)
            {
                var inBuf = new ZSTD_inBuffer_s { src = i + _inPos, size = (nuint)(_inEnd - _inPos), pos = 0 };
                var outBuf = new ZSTD_outBuffer_s { dst = o, size = (nuint)buffer.Length, pos = 0 };
                rc = Methods.ZSTD_decompressStream(_ctx, &outBuf, &inBuf);
                consumed = (int)inBuf.pos;
                produced = (int)outBuf.pos;
            }
            if (Methods.ZSTD_isError(rc))
                throw new ZarFormatException($"{_description}: corrupt zstd data at compressed byte {_totIn}: {Methods.ZSTD_getErrorName(rc)}");
            _recorder.Consumed(_in.AsSpan(_inPos, consumed));
            _inPos += consumed;
            _totIn += consumed;
            _totOut += produced;
            if (rc == 0) _frameStart = true;
            if (produced > 0) return produced;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_ctx != null) { Methods.ZSTD_freeDCtx(_ctx); _ctx = null; }
        base.Dispose(disposing);
    }
}
