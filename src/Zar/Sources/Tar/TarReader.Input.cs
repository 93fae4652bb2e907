using System.Text;
using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Tar;

/// <summary>The buffered input: header blocks, metadata read into memory (bounded), entry data handed out or skipped (seeking when the stream can).</summary>
public sealed partial class TarReader
{
    ReadOnlySpan<byte> ReadMetadata(long size, long blockOffset, string what)
    {
        if (size > MaxMetadataSize) throw Fail(blockOffset, null, $"{what} of {size} bytes exceeds the limit of {MaxMetadataSize} bytes");
        int padded = (int)RoundUp(size, blockOffset, null);
        if (_meta.Length < padded) _meta = new byte[Math.Max(padded, _meta.Length * 2)];
        int got = ReadFully(_meta.AsSpan(0, padded));
        if (got < padded) throw Fail(blockOffset, null, $"truncated {what} (expected {size} bytes)");
        return _meta.AsSpan(0, (int)size);
    }

    /// <summary>Reads one block; false on a clean end of stream before its first byte.</summary>
    bool ReadBlock(Span<byte> block, long blockOffset)
    {
        int got = ReadFully(block);
        if (got == 0) return false;
        if (got < Block) throw Fail(blockOffset, null, $"truncated header (stream ends {got} bytes into a 512-byte block)");
        return true;
    }

    bool TryPeekIsZeroBlock()
    {
        if (_bufferEnd - _bufferStart < Block)
        {
            Compact();
            while (_bufferEnd - _bufferStart < Block)
            {
                int n = ReadInner(_buffer.AsSpan(_bufferEnd));
                if (n <= 0) return false;
                _bufferEnd += n;
            }
        }
        return TarHeader.IsZeroBlock(_buffer.AsSpan(_bufferStart, Block));
    }

    void Compact()
    {
        if (_bufferStart == 0) return;
        int live = _bufferEnd - _bufferStart;
        _buffer.AsSpan(_bufferStart, live).CopyTo(_buffer);
        _bufferStart = 0;
        _bufferEnd = live;
    }

    void Consume(int n)
    {
        _bufferStart += n;
        _position += n;
    }

    int ReadFully(Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = ReadSome(destination[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }

    int ReadSome(Span<byte> destination)
    {
        int buffered = _bufferEnd - _bufferStart;
        if (buffered == 0)
        {
            // Large reads bypass the buffer: file data is copied once.
            if (destination.Length >= _buffer.Length)
            {
                int direct = ReadInner(destination);
                _position += direct;
                return direct;
            }
            _bufferStart = 0;
            _bufferEnd = ReadInner(_buffer);
            buffered = _bufferEnd;
            if (buffered == 0) return 0;
        }
        int n = Math.Min(buffered, destination.Length);
        _buffer.AsSpan(_bufferStart, n).CopyTo(destination);
        Consume(n);
        return n;
    }

    int ReadInner(Span<byte> destination)
    {
        try { return _stream.Read(destination); }
        catch (InvalidDataException ex) { throw Fail(_position, null, ex.Message, ex); }
        catch (EndOfStreamException ex) { throw Fail(_position, null, "truncated compressed data", ex); }
    }

    /// <summary>Skips n bytes of data/padding; with a seekable stream, by seeking.</summary>
    void SkipData(long n, TarEntry? entry, long dataOffset, string? rawName = null)
    {
        long buffered = _bufferEnd - _bufferStart;
        long fromBuffer = Math.Min(buffered, n);
        Consume((int)fromBuffer);
        n -= fromBuffer;
        if (n == 0) return;
        if (_stream.CanSeek)
        {
            long here, length;
            try { here = _stream.Position; length = _stream.Length; }
            catch (NotSupportedException) { here = length = -1; }
            if (here >= 0)
            {
                if (here + n > length)
                    throw TruncatedData(entry, rawName, dataOffset, here + n - length);
                _stream.Seek(n, SeekOrigin.Current);
                _position += n;
                return;
            }
        }
        while (n > 0)
        {
            int chunk = ReadInner(_buffer.AsSpan(0, (int)Math.Min(n, _buffer.Length)));
            if (chunk <= 0) throw TruncatedData(entry, rawName, dataOffset, n);
            _position += chunk;
            n -= chunk;
        }
    }

    Exception TruncatedData(TarEntry? entry, string? rawName, long dataOffset, long missing) =>
        Fail(dataOffset, entry?.RawName ?? rawName,
            entry != null
                ? $"truncated data (expected {entry.StoredSize} bytes, stream ends {missing} bytes short)"
                : $"truncated data (stream ends {missing} bytes short)");

    internal int ReadData(int generation, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (generation != _generation || _current == null)
            throw new InvalidOperationException("the entry's data stream is no longer valid (TarReader.Next was called)");
        if (_dataRemaining <= 0 || destination.IsEmpty) return 0;
        var want = destination[..(int)Math.Min(destination.Length, _dataRemaining)];
        int n = ReadSome(want);
        if (n <= 0)
            throw Fail(_current.DataOffset, _current.RawName,
                $"truncated data (expected {_current.StoredSize} bytes, got {_current.StoredSize - _dataRemaining})");
        _dataRemaining -= n;
        return n;
    }

    internal long DataLength(int generation) => generation == _generation && _current != null ? _current.StoredSize : 0;
}
