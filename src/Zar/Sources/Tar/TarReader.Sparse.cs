using System.Text;
using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Tar;

/// <summary>Sparse maps: old GNU ('S' headers and extension blocks), PAX 0.0 (repeated offset/numbytes), 0.1 (one list) and 1.0 (a map at the start of the data area); every extent checked.</summary>
public sealed partial class TarReader
{
    List<DataExtent> ReadOldGnuSparseMap(long blockOffset, string rawName)
    {
        var list = new List<DataExtent>();
        AddOldGnuPairs(_header.AsSpan(TarHeader.GnuSparseOffset, TarHeader.GnuSparseInHeader * TarHeader.GnuSparseEntryLength),
            list, blockOffset, rawName);
        bool extended = _header[TarHeader.GnuIsExtendedOffset] != 0;
        Span<byte> ext = stackalloc byte[Block];
        while (extended)
        {
            long extOffset = _position;
            if (!ReadBlock(ext, extOffset)) throw Fail(extOffset, rawName, "truncated sparse map (missing extension block)");
            if (list.Count > MaxSparseExtents) throw Fail(extOffset, rawName, "sparse map too large");
            AddOldGnuPairs(ext[..(TarHeader.GnuExtensionEntries * TarHeader.GnuSparseEntryLength)], list, extOffset, rawName);
            extended = ext[TarHeader.GnuExtensionIsExtendedOffset] != 0;
        }
        return list;
    }

    /// <summary>Slots are used from the first; an empty one ends the block's list.</summary>
    void AddOldGnuPairs(ReadOnlySpan<byte> area, List<DataExtent> list, long blockOffset, string rawName)
    {
        for (int i = 0; i + TarHeader.GnuSparseEntryLength <= area.Length; i += TarHeader.GnuSparseEntryLength)
        {
            var slot = area.Slice(i, TarHeader.GnuSparseEntryLength);
            if (slot[0] == 0) return;
            if (!TarHeader.TryParseNumber(slot[..12], out long off) || !TarHeader.TryParseNumber(slot[12..], out long len))
                throw Fail(blockOffset, rawName, "bad number in sparse map");
            AddExtent(list, off, len, blockOffset, rawName);
        }
    }

    void AddExtent(List<DataExtent> list, long offset, long length, long blockOffset, string rawName)
    {
        if (offset < 0 || length < 0 || offset > long.MaxValue - length) throw Fail(blockOffset, rawName, $"bad sparse extent ({offset}, {length})");
        if (length == 0) return; // GNU tar ends maps with a (realsize, 0) marker
        if (list.Count >= MaxSparseExtents) throw Fail(blockOffset, rawName, "sparse map too large");
        list.Add(new DataExtent(offset, length));
    }

    List<DataExtent> ParseSparseList(string[] numbers, long blockOffset, string rawName)
    {
        if (numbers.Length % 2 != 0) throw Fail(blockOffset, rawName, "odd number of values in GNU.sparse.map");
        var list = new List<DataExtent>();
        for (int i = 0; i < numbers.Length; i += 2)
            AddExtent(list, ParsePaxDecimal(numbers[i], "sparse offset", blockOffset, rawName),
                ParsePaxDecimal(numbers[i + 1], "sparse length", blockOffset, rawName), blockOffset, rawName);
        return list;
    }

    List<DataExtent> PairsToExtents(List<long> pairs, long blockOffset, string rawName)
    {
        if (pairs.Count % 2 != 0) throw Fail(blockOffset, rawName, "GNU.sparse.offset without GNU.sparse.numbytes");
        var list = new List<DataExtent>();
        for (int i = 0; i < pairs.Count; i += 2) AddExtent(list, pairs[i], pairs[i + 1], blockOffset, rawName);
        return list;
    }

    /// <summary>Format 1.0: decimal numbers, one per line (count, then offset/length pairs), at the start of the data area, padded to a block.</summary>
    (List<DataExtent>, long) ReadPaxSparseMap(long dataArea, long blockOffset, string rawName)
    {
        var list = new List<DataExtent>();
        Span<byte> block = stackalloc byte[Block];
        long consumed = 0;
        long count = -1, pendingOffset = -1, value = 0;
        int digits = 0;
        while (true)
        {
            long mapOffset = _position;
            if (consumed + Block > dataArea) throw Fail(mapOffset, rawName, "sparse map runs past the entry's data");
            if (!ReadBlock(block, mapOffset)) throw Fail(mapOffset, rawName, "truncated sparse map");
            consumed += Block;
            foreach (byte c in block)
            {
                if (c >= (byte)'0' && c <= (byte)'9')
                {
                    if (++digits > 19) throw Fail(mapOffset, rawName, "number too long in sparse map");
                    value = value * 10 + (c - '0');
                    continue;
                }
                if (c != (byte)'\n' || digits == 0) throw Fail(mapOffset, rawName, "malformed sparse map");
                if (count < 0)
                {
                    count = value;
                    if (count > MaxSparseExtents) throw Fail(mapOffset, rawName, $"sparse map too large ({count} extents)");
                }
                else if (pendingOffset < 0) pendingOffset = value;
                else
                {
                    AddExtent(list, pendingOffset, value, mapOffset, rawName);
                    pendingOffset = -1;
                    count--;
                }
                value = 0;
                digits = 0;
                if (count == 0 && pendingOffset < 0) return (list, consumed);
            }
        }
    }

    void ValidateExtents(List<DataExtent> extents, long logicalSize, long storedSize, long blockOffset, string rawName)
    {
        if (logicalSize < 0) throw Fail(blockOffset, rawName, $"negative sparse size {logicalSize}");
        long end = 0, total = 0;
        foreach (var x in extents)
        {
            if (x.Offset < end) throw Fail(blockOffset, rawName, "sparse extents overlap or are out of order");
            if (x.End > logicalSize) throw Fail(blockOffset, rawName, $"sparse extent ends at {x.End}, past the file size {logicalSize}");
            end = x.End;
            total += x.Length;
        }
        if (total != storedSize)
            throw Fail(blockOffset, rawName, $"sparse map describes {total} bytes but the entry stores {storedSize}");
    }
}
