using Zar.IO;

namespace Zar.Formats.Erofs;

/// <summary>
/// The one place image bytes are written: strictly sequential (pipes work), counted, reported to the
/// progress sink (throttled) and shown to the write observer (a whole-image hash).
/// </summary>
sealed class ErofsImageSink(Stream output, IProgress<long>? progress, IWriteObserver? observer)
{
    static readonly byte[] Zeros = new byte[1 << 16];
    long _lastReport;
    public long Position { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        output.Write(data);
        observer?.Written(data);
        Position += data.Length;
        if (progress != null && Position - _lastReport >= 1 << 22) { _lastReport = Position; progress.Report(Position); }
    }

    public void WriteZeros(long count)
    {
        while (count > 0) { int n = (int)Math.Min(count, Zeros.Length); Write(Zeros.AsSpan(0, n)); count -= n; }
    }

    public void Flush()
    {
        output.Flush();
        progress?.Report(Position);
    }
}
