using Zar.Model;

namespace Zar.Blobs;

/// <summary>
/// A seekable stream as a blob. Streams have one position, so reads are serialised by a lock: use this
/// only where no positional source exists (an archive member handed out as a stream).
/// </summary>
public sealed class StreamBlob(Stream stream, string description) : IBlob, IDisposable
{
    readonly object _lock = new();

    public string Description => description;
    public long Length => stream.Length;

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            stream.Position = offset;
            return IO.StreamSkip.ReadFull(stream, destination);
        }
    }

    bool _disposed;

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            stream.Dispose();
        }
    }
}
