using System.Buffers.Binary;

namespace Zar.Formats.LayerIndex;

/// <summary>
/// One tar member in the index's table of contents: where its header blocks start in the uncompressed tar and
/// how many bytes of metadata precede its data (all its header blocks: x/g PAX, GNU L/K, the ustar block, a PAX
/// 1.0 sparse map). The TOC keeps those bytes verbatim, after the records, so the one tar reader
/// (<see cref="Sources.Tar.TarReader"/>) rebuilds entries from them: no second copy of tar's rules, and every
/// field (xattrs, long names, sparse maps, devices) survives. Payload offsets follow from the headers.
/// </summary>
public readonly record struct TocRecord(long HeaderOffset, int HeaderLength)
{
    public const int Size = 12;

    // Field table:       offset size
    //   header offset        0   8   in the uncompressed tar
    //   header length        8   4   bytes of header blocks (and sparse map) before the payload
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteInt64LittleEndian(b, HeaderOffset);
        BinaryPrimitives.WriteInt32LittleEndian(b[8..], HeaderLength);
    }

    public static TocRecord Read(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadInt64LittleEndian(b), BinaryPrimitives.ReadInt32LittleEndian(b[8..]));
}
