using Zar.Model;

namespace Zar.IO;

/// <summary>Reads at most a given number of bytes from a forward stream; the inner stream ending first is a format error.</summary>
public sealed class BoundedReadStream(Stream inner, long length, string what) : ReadOnlyStream
{
    public long Consumed { get; private set; }
    public override long Length => length;
    public override long Position { get => Consumed; set => throw new NotSupportedException(); }
    public override int Read(Span<byte> buffer)
    {
        if (Consumed >= length || buffer.IsEmpty) return 0;
        int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, length - Consumed)]);
        if (n <= 0) throw new ZarFormatException($"{what}: ends inside a file's data");
        Consumed += n;
        return n;
    }
}
