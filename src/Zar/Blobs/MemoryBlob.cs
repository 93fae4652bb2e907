using Zar.Model;

namespace Zar.Blobs;

/// <summary>Bytes in memory as a blob (small metadata-sized data, tests).</summary>
public sealed class MemoryBlob(ReadOnlyMemory<byte> bytes, string description = "memory") : IBlob
{
    public string Description => description;
    public long Length => bytes.Length;

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= bytes.Length) return 0;
        int n = (int)Math.Min(destination.Length, bytes.Length - offset);
        bytes.Span.Slice((int)offset, n).CopyTo(destination);
        return n;
    }
}
