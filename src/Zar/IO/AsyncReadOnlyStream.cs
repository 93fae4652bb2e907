namespace Zar.IO;

/// <summary>
/// A read-only stream whose real work is asynchronous (network bodies): subclasses write
/// <see cref="ReadAsync(Memory{byte}, CancellationToken)"/> once and synchronous callers (tar readers,
/// hashing copies) are served by it, through a pooled buffer because a span cannot cross an await.
/// </summary>
public abstract class AsyncReadOnlyStream : ReadOnlyStream
{
    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default);

    public override int Read(Span<byte> buffer)
    {
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(rented); }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
}
