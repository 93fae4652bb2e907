namespace Zar.IO;

/// <summary>A read-only window [offset, offset+length) of a seekable stream; positions are relative to the window.</summary>
public sealed class SubStream(Stream inner, long offset, long length, bool leaveOpen = false) : ReadOnlyStream
{
    long _pos;
    public override bool CanSeek => true;
    public override long Length => length;
    public override long Position { get => _pos; set => _pos = value; }

    public override int Read(Span<byte> buffer)
    {
        if (_pos >= length || buffer.IsEmpty) return 0;
        int want = (int)Math.Min(buffer.Length, length - _pos);
        inner.Position = offset + _pos;
        int n = inner.Read(buffer[..want]);
        _pos += n;
        return n;
    }

    public override long Seek(long off, SeekOrigin origin) => _pos = origin switch
    {
        SeekOrigin.Begin => off, SeekOrigin.Current => _pos + off, _ => length + off,
    };

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen) inner.Dispose();
        base.Dispose(disposing);
    }
}
