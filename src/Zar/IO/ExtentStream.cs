using Zar.Model;

namespace Zar.IO;

/// <summary>
/// The stored bytes of a file's data extents, extent after extent in logical order (holes skipped):
/// what writers copy. Subclasses only say how to read at an offset.
/// </summary>
public abstract class ExtentStream(IReadOnlyList<DataExtent> extents) : ReadOnlyStream
{
    int _extent;
    long _within;

    public override long Length => extents.Sum(e => e.Length);

    /// <summary>Reads at a logical offset inside an extent; returns at least one byte or throws.</summary>
    protected abstract int ReadAt(long offset, Span<byte> buffer);

    public override int Read(Span<byte> buffer)
    {
        while (_extent < extents.Count)
        {
            var x = extents[_extent];
            long left = x.Length - _within;
            if (left <= 0) { _extent++; _within = 0; continue; }
            int n = ReadAt(x.Offset + _within, buffer[..(int)Math.Min(buffer.Length, left)]);
            _within += n;
            return n;
        }
        return 0;
    }
}
