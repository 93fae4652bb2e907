using System.Buffers.Binary;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Tar;

namespace Zar.Sources;

/// <summary>
/// Says what a path holds by reading its head and tail once: zar (footer magic at the end), EROFS (superblock
/// magic at 1024), SQLite, gzip, zstd, tar (a header whose checksum holds), or a directory (an OCI layout when it
/// has an <c>oci-layout</c> file). The one place file formats are recognised; the opener acts on the answer.
/// </summary>
public static class FileSniffer
{
    /// <summary>Enough of the head for every magic here: the EROFS magic ends at 1028.</summary>
    public const int HeadLength = ErofsFormat.SuperblockOffset + 4;
    public const int TailLength = ZarFooter.Size;

    static ReadOnlySpan<byte> SqliteMagic => "SQLite format 3\0"u8;

    public static FileKind Identify(string path)
    {
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, OciLayout.MarkerFile)) ? FileKind.OciLayoutDirectory : FileKind.Directory;
        if (!File.Exists(path)) return FileKind.Missing;
        try
        {
            using var f = File.OpenHandle(path);
            long length = RandomAccess.GetLength(f);
            var head = new byte[(int)Math.Min(HeadLength, length)];
            var tail = new byte[(int)Math.Min(TailLength, length)];
            int h = RandomAccess.Read(f, head, 0);
            int t = RandomAccess.Read(f, tail, length - tail.Length);
            return Identify(head.AsSpan(0, h), tail.AsSpan(0, t));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ZarException($"{path}: cannot read: {e.Message}");
        }
    }

    /// <summary>The kind of content whose first bytes are <paramref name="head"/> and last bytes <paramref name="tail"/>.</summary>
    public static FileKind Identify(ReadOnlySpan<byte> head, ReadOnlySpan<byte> tail)
    {
        if (tail.Length >= ZarFooter.Size && tail[^ZarFooter.Size..].StartsWith(ZarFooter.Magic)) return FileKind.Zar;
        if (head.Length >= HeadLength && BinaryPrimitives.ReadUInt32LittleEndian(head[ErofsFormat.SuperblockOffset..]) == ErofsFormat.Magic)
            return FileKind.Erofs;
        if (head.StartsWith(SqliteMagic)) return FileKind.Sqlite;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return FileKind.Gzip;
        // A zstd frame, or a skippable frame (some writers lead with one).
        if (head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD])
            || head.Length >= 4 && (head[0] & 0xF0) == 0x50 && head[1] == 0x2A && head[2] == 0x4D && head[3] == 0x18)
            return FileKind.Zstd;
        if (head.Length >= 4 && head.StartsWith("BZh"u8) && head[3] is >= (byte)'1' and <= (byte)'9') return FileKind.Bzip2;
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])) return FileKind.Xz;
        if (head.Length >= TarHeader.BlockSize && TarHeader.ChecksumMatches(head[..TarHeader.BlockSize])) return FileKind.Tar;
        return FileKind.Unknown;
    }
}
