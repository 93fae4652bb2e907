using System.Numerics;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>A file whose bytes stay where they are: chunk indexes onto device blocks (holes are null chunks).</summary>
sealed record ErofsPointedFile(int ChunkBits, ErofsChunkIndex[] Chunks, long StoredBytes);

/// <summary>
/// The placement seam: decides per regular file whether its bytes are copied into the image (null) or
/// pointed at where they already lie (an extra device). The writer copies every file a placement does
/// not point, so a placement can only save copies, never drop or garble data.
/// </summary>
interface IErofsDataPlacement
{
    ErofsPointedFile? TryPoint(IReadOnlyFileSystem source, Entry file);
}

/// <summary>Every file's data is copied into the image (no extra devices).</summary>
sealed class CopyPlacement : IErofsDataPlacement
{
    public static readonly CopyPlacement Instance = new();
    public ErofsPointedFile? TryPoint(IReadOnlyFileSystem source, Entry file) => null;
}

/// <summary>
/// Points a file at extra devices when its <see cref="FileData"/> allows: every segment lies in a device,
/// and some chunk size (a power of two, at least a block) makes each chunk either all hole or one run of
/// bytes contiguous on one device from a block boundary. Such a file costs 8 bytes per chunk and no
/// copy; a plain file is one chunk (the next power of two at least its size), as <c>mkfs.erofs --tar=i</c>
/// does. Anything else (data not block-aligned on the device, a hole inside a chunk) is copied.
/// </summary>
sealed class DevicePlacement(ErofsDeviceTable devices, ErofsGeometry g) : IErofsDataPlacement
{
    readonly record struct Run(long Offset, long Length, ErofsDeviceTable.Device Device, long Address)
    {
        public long End => Offset + Length;
    }

    public ErofsPointedFile? TryPoint(IReadOnlyFileSystem source, Entry file)
    {
        long size = file.Size;
        if (size <= 0) return null;
        var data = source.GetData(file);
        if (data.Size != size || data.StoredBytes == 0) return null;
        var runs = new List<Run>(data.Segments.Count);
        foreach (var s in data.Segments)
        {
            if (!devices.TryLocate(s, out var device, out long address)) return null;
            if (runs.Count > 0 && runs[^1] is var last && last.Device == device && last.End == s.Offset && last.Address + last.Length == address)
                runs[^1] = last with { Length = last.Length + s.Length };
            else runs.Add(new Run(s.Offset, s.Length, device, address));
        }
        // The largest chunk that every run starts on (and ends on, unless at the end of the file).
        long maxChunk = (long)g.BlockSize << ErofsChunkFormat.MaxChunkBits;
        long chunk = Math.Min(maxChunk, Math.Max(g.BlockSize, (long)BitOperations.RoundUpToPowerOf2((ulong)size)));
        foreach (var r in runs)
        {
            if ((r.Address & (g.BlockSize - 1)) != 0) return null;
            if (r.Offset != 0) chunk = Math.Min(chunk, r.Offset & -r.Offset);
            if (r.End != size) chunk = Math.Min(chunk, r.End & -r.End);
        }
        if (chunk < g.BlockSize) return null;
        long count = (size + chunk - 1) / chunk;
        if (count > Array.MaxLength / ErofsChunkIndex.Size) return null;
        var chunks = new ErofsChunkIndex[count];
        Array.Fill(chunks, ErofsChunkIndex.Hole);
        foreach (var r in runs)
        {
            for (long k = r.Offset / chunk; k * chunk < r.End; k++)
            {
                long block = (r.Address + (k * chunk - r.Offset)) >> g.BlockSizeBits;
                if (block >= ErofsFormat.NullAddress) return null;
                chunks[k] = new ErofsChunkIndex(0, (ushort)r.Device.Id, (uint)block);
            }
        }
        return new ErofsPointedFile(BitOperations.Log2((ulong)chunk) - g.BlockSizeBits, chunks, data.StoredBytes);
    }
}
