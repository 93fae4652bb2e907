using System.IO.MemoryMappedFiles;
using Zar.Model;

namespace Zar.Blobs;

/// <summary>
/// A whole file mapped read-only, as a blob and as raw memory for readers that parse it in place (zar,
/// EROFS). Disposal is safe against reads in flight: every access holds a lease (a reference on the
/// view), so the mapping is released only after the last reader left, and a new access after
/// <see cref="Dispose"/> throws <see cref="ObjectDisposedException"/> instead of touching unmapped memory.
/// </summary>
public sealed unsafe class MappedFile : ILocalFileBlob, IDisposable
{
    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    int _disposed;

    public string FilePath { get; }
    public long FileOffset => 0;
    public long Length { get; }
    public string Description { get; }

    MappedFile(string path, string description)
    {
        FilePath = path;
        Description = description;
        try
        {
            Length = new FileInfo(path).Length;
            if (Length == 0) return; // nothing to map; every access is out of range
            _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _view?.Dispose();
            _map?.Dispose();
            throw new ZarException($"{path}: cannot map: {e.Message}");
        }
    }

    /// <summary>Maps a file; a missing file is a <see cref="ZarNotFoundException"/>.</summary>
    public static MappedFile Open(string path, string? description = null)
    {
        if (!File.Exists(path)) throw new ZarNotFoundException($"{path}: no such file");
        return new MappedFile(path, description ?? path);
    }

    /// <summary>Holds the mapping alive for the duration of a using block.</summary>
    public Lease Enter()
    {
        if (Volatile.Read(ref _disposed) != 0 || _view == null)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return default;
        }
        bool added = false;
        try { _view.SafeMemoryMappedViewHandle.DangerousAddRef(ref added); }
        catch (ObjectDisposedException) { throw new ObjectDisposedException(Description); }
        return new Lease(_view.SafeMemoryMappedViewHandle);
    }

    public readonly struct Lease(System.Runtime.InteropServices.SafeHandle? handle) : IDisposable
    {
        public void Dispose() => handle?.DangerousRelease();
    }

    /// <summary>A view of [offset, offset+length); the caller holds a <see cref="Lease"/> while using it.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ZarFormatException($"{Description}: reference beyond the end of the file (offset {offset}, {length} bytes, file {Length} bytes)");
        return new ReadOnlySpan<byte>(_base + offset, length);
    }

    /// <summary>The base address; valid while a <see cref="Lease"/> is held.</summary>
    public byte* Pointer => _base;

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= Length || destination.IsEmpty) return 0;
        int n = (int)Math.Min(destination.Length, Length - offset);
        using (Enter()) new ReadOnlySpan<byte>(_base + offset, n).CopyTo(destination);
        return n;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    public override string ToString() => Description;
}
