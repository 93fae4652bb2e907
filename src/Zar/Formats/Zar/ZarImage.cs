using System.IO.Hashing;
using Zar.Blobs;
using Zar.Model;

namespace Zar.Formats.Zar;

public sealed class ZarReadOptions
{
    /// <summary>Check each file's content digest the first time it is read (once per open image).</summary>
    public bool VerifyData { get; init; } = true;
}

/// <summary>
/// A zar image, memory-mapped. Opening reads the footer and checks the metadata's page-checksum
/// table; metadata pages are verified the first time they are touched, so opening and looking up
/// one path cost O(log n), not a decode of everything. File reads are copies from (or spans over)
/// the mapping; a file's data is segments of the image file (<see cref="GetData"/>).
/// Inode numbers are the format's own (1 + the table index of a file's first name), so a record is found
/// from an entry without a search.
/// </summary>
public sealed unsafe class ZarImage : IReadOnlyFileSystem, IDescribeImage
{
    readonly MappedFile _image;
    readonly byte* _base;
    readonly long _length;
    readonly byte* _meta;
    readonly ulong[] _verifiedPages;
    readonly ulong[] _verifiedContents;
    readonly ZarReadOptions _options;
    readonly string _file;
    readonly Entry _root;

    public ZarFooter Footer { get; }
    public ZarMetadataHeader Header { get; }
    public string Description { get; }
    public long EntryCount => (long)Header.Entries.Count;

    /// <summary>What `zar inspect` shows: footer, counts and sizes (one walk over the entries).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Describe() => ZarInspection.Of(this, _file).Describe();

    public static ZarImage Open(string path, ZarReadOptions? options = null) => new(path, options ?? new ZarReadOptions());

    ZarImage(string path, ZarReadOptions options)
    {
        _file = path;
        _options = options;
        Description = $"zar image {path}";
        _image = MappedFile.Open(path, $"zar image {path}");
        _length = _image.Length;
        _base = _image.Pointer;
        try
        {
            if (_length < ZarFooter.Size) throw new ZarFormatException($"{path}: too small to be a zar image ({_length} bytes)");
            Footer = ZarFooter.Read(new ReadOnlySpan<byte>(_base + _length - ZarFooter.Size, ZarFooter.Size), path);
            if (Footer.FileLength != (ulong)_length)
                throw new ZarFormatException($"{path}: file is {_length} bytes but the zar footer says {Footer.FileLength} (truncated or appended to)");
            if (Footer.MetadataOffset > (ulong)_length || Footer.MetadataLength != (ulong)_length - ZarFooter.Size - Footer.MetadataOffset)
                throw new ZarFormatException($"{path}: zar metadata offset/length out of bounds (corrupted)");
            if (Footer.MetadataLength < ZarMetadataHeader.Size) throw new ZarFormatException($"{path}: zar metadata too short (corrupted)");
            _meta = _base + Footer.MetadataOffset;
            // The header is read before its page is verified only to find the checksum table;
            // it is verified (page 0) right after.
            var raw = ZarMetadataHeader.Read(new ReadOnlySpan<byte>(_meta, ZarMetadataHeader.Size), Footer.MetadataLength, path);
            ulong covered = raw.ChecksumTableOffset;
            ulong pages = (covered + ZarMetadataHeader.ChecksumPageSize - 1) / ZarMetadataHeader.ChecksumPageSize;
            if (covered + pages * 4 != Footer.MetadataLength) throw new ZarFormatException($"{path}: zar checksum table size mismatch (corrupted)");
            var table = new ReadOnlySpan<byte>(_meta + covered, (int)(pages * 4));
            if (IO.Crc32C.Compute(table) != Footer.MetadataChecksum) throw new ZarFormatException($"{path}: zar metadata checksum mismatch (corrupted)");
            _verifiedPages = new ulong[(pages + 63) / 64];
            Header = raw;
            Meta(0, ZarMetadataHeader.Size);
            if (Header.Entries.Count == 0 || Header.Entries.Count != Footer.EntryCount)
                throw new ZarFormatException($"{path}: zar entry count mismatch (corrupted)");
            _verifiedContents = new ulong[(Header.Contents.Count + 63) / 64];
            _root = MakeEntry(0);
            if (_root.Path.Length != 0 || !_root.IsDirectory) throw new ZarFormatException($"{path}: first zar entry is not the root directory (corrupted)");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public Entry Root => _root;

    /// <summary>A verified view of metadata bytes [offset, offset+length).</summary>
    ReadOnlySpan<byte> Meta(ulong offset, ulong length)
    {
        ulong covered = Header.ChecksumTableOffset;
        if (offset > covered || length > covered - offset) throw Corrupt("metadata reference out of bounds");
        if (length > 0)
        {
            ulong first = offset / ZarMetadataHeader.ChecksumPageSize, last = (offset + length - 1) / ZarMetadataHeader.ChecksumPageSize;
            if (first == last)
            {
                if ((_verifiedPages[first / 64] & (1UL << (int)(first % 64))) == 0) VerifyPage(first);
            }
            else for (ulong page = first; page <= last; page++) VerifyPage(page);
        }
        return new ReadOnlySpan<byte>(_meta + offset, (int)length);
    }

    void VerifyPage(ulong page)
    {
        ref ulong word = ref _verifiedPages[page / 64];
        ulong bit = 1UL << (int)(page % 64);
        if ((Volatile.Read(ref word) & bit) != 0) return;
        ulong covered = Header.ChecksumTableOffset;
        ulong from = page * ZarMetadataHeader.ChecksumPageSize;
        ulong len = Math.Min(ZarMetadataHeader.ChecksumPageSize, covered - from);
        uint expected = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_meta + covered + page * 4, 4));
        if (IO.Crc32C.Compute(new ReadOnlySpan<byte>(_meta + from, (int)len)) != expected)
            throw Corrupt($"metadata page {page} checksum mismatch");
        Interlocked.Or(ref word, bit);
    }

    /// <summary>How many metadata pages have been checked so far (tests hold the O(log n) promise to it).</summary>
    internal int VerifiedPageCount => _verifiedPages.Sum(w => System.Numerics.BitOperations.PopCount(w));

    ZarFormatException Corrupt(string what) => new($"{_file}: {what} (corrupted zar image)");

    ZarEntryRecord Record(long index)
    {
        if ((ulong)index >= Header.Entries.Count) throw Corrupt($"entry index {index} out of range");
        return ZarEntryRecord.Read(Meta(Header.Entries.Offset + (ulong)index * ZarEntryRecord.Size, ZarEntryRecord.Size));
    }

    ReadOnlySpan<byte> Str(uint offset, uint length)
    {
        if ((ulong)offset + length > Header.Strings.Count) throw Corrupt("string reference out of bounds");
        return Meta(Header.Strings.Offset + offset, length);
    }

    ReadOnlySpan<byte> PathBytes(long index)
    {
        if ((ulong)index >= Header.Entries.Count) throw Corrupt($"entry index {index} out of range");
        // Only the path fields: binary search touches log n records and needs nothing else.
        var head = Meta(Header.Entries.Offset + (ulong)index * ZarEntryRecord.Size, 8);
        return Str(System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(head[4..]));
    }

    public Entry? Lookup(string path)
    {
        if (path.Length == 0) return _root;
        using var lease = _image.Enter();
        long index = LookupIndex(path);
        return index < 0 ? null : MakeEntry(index, path);
    }

    /// <summary>The same look-up by binary search over the sorted entry table (the index's cross-check in tests).</summary>
    internal Entry? LookupBySearch(string path)
    {
        using var lease = _image.Enter();
        var key = ZarPath.Encode(path);
        long lo = 0, hi = (long)Header.Entries.Count - 1;
        while (lo <= hi)
        {
            long mid = lo + (hi - lo) / 2;
            int c = ZarPath.CompareBytes(PathBytes(mid), key);
            if (c == 0) return MakeEntry(mid, path);
            if (c < 0) lo = mid + 1; else hi = mid - 1;
        }
        return null;
    }

    Entry MakeEntry(long index, string? knownPath = null)
    {
        var r = Record(index);
        var pathBytes = Str(r.PathOffset, r.PathLength);
        var path = knownPath ?? ZarPath.Decode(pathBytes);
        // A path found by look-up is byte-equal to the normalized one asked for: no need to re-check it.
        if (knownPath == null && !ZarPath.IsNormal(path) || (index == 0) != (path.Length == 0)) throw Corrupt($"entry {index} has an invalid path");
        if (r.Type is < 1 or > 8 || r.Type == (byte)EntryType.Hardlink) throw Corrupt($"entry {ZarPath.Display(path)} has unknown type {r.Type}");
        if (r.Mode > 0xFFF || r.MtimeNanoseconds >= 1_000_000_000) throw Corrupt($"entry {ZarPath.Display(path)} has invalid mode or time");
        if (r.Inode == 0) throw Corrupt($"entry {ZarPath.Display(path)} has inode number 0");
        var type = (EntryType)r.Type;
        string? link = null;
        bool sparse = (r.Flags & ZarEntryRecord.FlagSparse) != 0;
        if (type == EntryType.Regular)
        {
            if (r.Begin > r.End || r.End > Footer.MetadataOffset || r.Size_ > long.MaxValue) throw Corrupt($"entry {ZarPath.Display(path)} has data out of bounds");
            if (r.ContentId != ZarEntryRecord.NoContent && r.ContentId >= Header.Contents.Count) throw Corrupt($"entry {ZarPath.Display(path)} has an invalid content id");
            if (!sparse && r.End - r.Begin != r.Size_) throw Corrupt($"entry {ZarPath.Display(path)} size does not match its data");
        }
        else if (type == EntryType.Symlink) link = ZarPath.Decode(Str(r.LinkOffset, r.LinkLength));
        IReadOnlyList<Xattr> xattrs = Array.Empty<Xattr>();
        if (r.XattrCount > 0)
        {
            if ((ulong)r.FirstXattr + r.XattrCount > Header.Xattrs.Count) throw Corrupt($"entry {ZarPath.Display(path)} has xattrs out of bounds");
            var list = new Xattr[r.XattrCount];
            for (uint i = 0; i < r.XattrCount; i++)
            {
                var x = ZarXattrRecord.Read(Meta(Header.Xattrs.Offset + (ulong)(r.FirstXattr + i) * ZarXattrRecord.Size, ZarXattrRecord.Size));
                list[i] = new Xattr(ZarPath.Decode(Str(x.NameOffset, x.NameLength)), Str(x.ValueOffset, x.ValueLength).ToArray());
            }
            xattrs = list;
        }
        return new Entry
        {
            Path = path,
            Type = type,
            Mode = r.Mode,
            Uid = r.Uid,
            Gid = r.Gid,
            MtimeSeconds = r.MtimeSeconds,
            MtimeNanoseconds = r.MtimeNanoseconds,
            Size = type == EntryType.Regular ? (long)r.Size_ : 0,
            LinkTarget = link,
            DevMajor = r.DevMajor,
            DevMinor = r.DevMinor,
            Xattrs = xattrs,
            Inode = r.Inode,
            LinkCount = Math.Max(1, r.LinkCount),
            IsSparse = sparse,
        };
    }

    IReadOnlyList<DataExtent> ReadExtents(in ZarEntryRecord r, string path)
    {
        if ((ulong)r.FirstExtent + r.ExtentCount > Header.Extents.Count) throw Corrupt($"entry {ZarPath.Display(path)} has extents out of bounds");
        var list = new DataExtent[r.ExtentCount];
        ulong lastEnd = 0, stored = r.Begin;
        for (uint i = 0; i < r.ExtentCount; i++)
        {
            var x = ZarExtentRecord.Read(Meta(Header.Extents.Offset + (ulong)(r.FirstExtent + i) * ZarExtentRecord.Size, ZarExtentRecord.Size));
            if (x.LogicalOffset < lastEnd || x.Length > r.Size_ || x.LogicalOffset > r.Size_ - x.Length || x.StoredOffset != stored)
                throw Corrupt($"entry {ZarPath.Display(path)} has invalid extents");
            lastEnd = x.LogicalOffset + x.Length;
            stored += x.Length;
            list[i] = new DataExtent((long)x.LogicalOffset, (long)x.Length);
        }
        if (stored != r.End) throw Corrupt($"entry {ZarPath.Display(path)} extents do not match its data");
        return list;
    }

    /// <summary>
    /// The table index of a record of <paramref name="e"/>'s file: inode - 1 when the image numbers inodes by
    /// first name (what the writer does); images numbered otherwise fall back to the path index.
    /// </summary>
    long RecordIndex(Entry e)
    {
        long i = e.Inode - 1;
        if ((ulong)i < Header.Entries.Count && Record(i).Inode == e.Inode) return i;
        if (e.Path.Length == 0) return 0;
        var found = LookupIndex(e.Path);
        if (found < 0) throw new ZarException($"{Description}: {ZarPath.Display(e.Path)}: entry does not belong to this image");
        return found;
    }

    long LookupIndex(string path)
    {
        Span<byte> stack = stackalloc byte[512];
        int n = ZarPath.Encode(path, stack);
        ReadOnlySpan<byte> key = n >= 0 ? stack[..n] : ZarPath.Encode(path);
        ulong slots = Header.PathIndex.Count, mask = slots - 1;
        ulong slot = ZarWriter.PathHash(key) & mask;
        for (ulong probe = 0; probe < slots; probe++, slot = (slot + 1) & mask)
        {
            uint index = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Meta(Header.PathIndex.Offset + slot * 4, 4));
            if (index == uint.MaxValue) return -1;
            if (PathBytes(index).SequenceEqual(key)) return index;
        }
        return -1;
    }

    public IEnumerable<Entry> List(Entry directory)
    {
        using var lease = _image.Enter();
        long index = RecordIndex(directory);
        var r = Record(index);
        if (r.Type != (byte)EntryType.Directory) throw new ZarException($"{ZarPath.Display(directory.Path)}: not a directory");
        if ((ulong)r.FirstChild + r.ChildCount > Header.Children.Count) throw Corrupt($"directory {ZarPath.Display(directory.Path)} has children out of bounds");
        var result = new List<Entry>((int)Math.Min(r.ChildCount, 65536));
        long previous = index;
        for (uint i = 0; i < r.ChildCount; i++)
        {
            uint child = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Meta(Header.Children.Offset + (ulong)(r.FirstChild + i) * 4, 4));
            // Children come after their parent and after each other: this is what makes every walk terminate.
            if (child <= previous) throw Corrupt($"directory {ZarPath.Display(directory.Path)} has misordered children");
            previous = child;
            var e = MakeEntry(child);
            if (ZarPath.Parent(e.Path) != directory.Path) throw Corrupt($"{ZarPath.Display(e.Path)} is listed under {ZarPath.Display(directory.Path)}");
            result.Add(e);
        }
        return result;
    }

    /// <summary>All entries in table order, which is walk order; the order is checked as it goes.</summary>
    public IEnumerable<Entry> Walk()
    {
        byte[] previous = Array.Empty<byte>();
        for (long i = 0; i < (long)Header.Entries.Count; i++)
        {
            Entry e;
            using (_image.Enter())
            {
                e = MakeEntry(i);
                var bytes = PathBytes(i);
                if (i > 0 && ZarPath.CompareBytes(previous, bytes) >= 0) throw Corrupt($"entry table is not sorted at {ZarPath.Display(e.Path)}");
                previous = bytes.ToArray();
            }
            yield return e;
        }
    }

    public FileSystemTotals GetTotals()
    {
        using var lease = _image.Enter();
        long files = 0;
        ulong highest = 0;
        // A file's first name carries a number above every earlier one (both 1 + first index and dense numbering do).
        for (long i = 0; i < (long)Header.Entries.Count; i++)
        {
            var r = Record(i);
            if (r.Inode > highest) { files++; highest = r.Inode; }
        }
        return new FileSystemTotals(files, _length, ZarWriter.PageSize);
    }

    /// <summary>Checks a content's digest the first time any of its bytes are read (once per open image).</summary>
    void EnsureVerified(in ZarEntryRecord r, string path)
    {
        if (!_options.VerifyData || r.ContentId == ZarEntryRecord.NoContent) return;
        ref ulong word = ref _verifiedContents[r.ContentId / 64];
        ulong bit = 1UL << (int)(r.ContentId % 64);
        if ((Volatile.Read(ref word) & bit) != 0) return;
        var expected = Meta(Header.Contents.Offset + (ulong)r.ContentId * ZarMetadataHeader.DigestSize, ZarMetadataHeader.DigestSize);
        Span<byte> actual = stackalloc byte[ZarMetadataHeader.DigestSize];
        var hash = new XxHash128();
        for (ulong at = r.Begin; at < r.End;)
        {
            int n = (int)Math.Min(1 << 30, r.End - at);
            hash.Append(new ReadOnlySpan<byte>(_base + at, n));
            at += (ulong)n;
        }
        hash.GetCurrentHash(actual);
        if (!actual.SequenceEqual(expected)) throw new ZarFormatException($"{_file}: {ZarPath.Display(path)}: file data checksum mismatch (corrupted zar image)");
        Interlocked.Or(ref word, bit);
    }

    /// <summary>The record of a regular file, with its data range checked against the image.</summary>
    ZarEntryRecord FileRecord(Entry file)
    {
        var r = Record(RecordIndex(file));
        if (r.Type != (byte)EntryType.Regular) throw new ZarException($"{ZarPath.Display(file.Path)}: not a regular file");
        if (r.Begin > r.End || r.End > Footer.MetadataOffset) throw Corrupt($"entry {ZarPath.Display(file.Path)} has data out of bounds");
        bool sparse = (r.Flags & ZarEntryRecord.FlagSparse) != 0;
        if (!sparse && r.End - r.Begin != r.Size_) throw Corrupt($"entry {ZarPath.Display(file.Path)} size does not match its data");
        if (r.Size_ > long.MaxValue) throw Corrupt($"entry {ZarPath.Display(file.Path)} has an invalid size");
        return r;
    }

    /// <summary>Segments of the image file: one for a plain file, one per extent (stored back to back from Begin) for a sparse one.</summary>
    public FileData GetData(Entry file)
    {
        using var lease = _image.Enter();
        var r = FileRecord(file);
        var extents = (r.Flags & ZarEntryRecord.FlagSparse) != 0 ? ReadExtents(r, file.Path) : null;
        return FileData.Packed((long)r.Size_, extents, _image, (long)r.Begin);
    }

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        using var lease = _image.Enter();
        var r = FileRecord(file);
        long size = (long)r.Size_;
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= size || destination.IsEmpty) return 0;
        EnsureVerified(r, file.Path);
        int want = (int)Math.Min(destination.Length, size - offset);
        if ((r.Flags & ZarEntryRecord.FlagSparse) == 0)
        {
            new ReadOnlySpan<byte>(_base + r.Begin + (ulong)offset, want).CopyTo(destination);
            return want;
        }
        return FileData.Packed(size, ReadExtents(r, file.Path), _image, (long)r.Begin).Read(offset, destination[..want]);
    }

    /// <summary>The bytes of a non-sparse file as a span over the mapping (no copy); valid until the image is disposed.</summary>
    public ReadOnlySpan<byte> GetContent(Entry file)
    {
        using var lease = _image.Enter();
        var r = FileRecord(file);
        if ((r.Flags & ZarEntryRecord.FlagSparse) != 0) throw new ZarException($"{ZarPath.Display(file.Path)}: not a plain regular file");
        if (r.Size_ > int.MaxValue) throw new ZarException($"{ZarPath.Display(file.Path)}: over 2 GiB, read it with Read()");
        EnsureVerified(r, file.Path);
        return new ReadOnlySpan<byte>(_base + r.Begin, (int)r.Size_);
    }

    public void Dispose() => _image.Dispose();
}
