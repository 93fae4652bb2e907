namespace Zar.IO;

/// <summary>Copies what is read into a second stream (a decompressed layer spilled while it is scanned).</summary>
public sealed class TeeStream(Stream inner, Stream copy) : ReadOnlyStream
{
    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        if (n > 0) copy.Write(buffer[..n]);
        return n;
    }
}
