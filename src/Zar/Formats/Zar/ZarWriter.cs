using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Zar;

public sealed class ZarWriterOptions
{
    /// <summary>Start every file's data at a 4096-byte boundary so it can be mmap'ed straight from the image.</summary>
    public bool PageAlign { get; init; } = true;
    /// <summary>Store identical contents once (same XXH3-128 digest and length, then confirmed byte for byte).</summary>
    public bool Deduplicate { get; init; } = true;
    /// <summary>Reports bytes of file data consumed so far.</summary>
    public IProgress<long>? Progress { get; init; }
}

public sealed record ZarWriteResult(
    long EntryCount, long FileCount, long LogicalBytes, long StoredBytes,
    long DeduplicatedFiles, long DeduplicatedBytes, long HoleBytes, long ImageBytes);

/// <summary>
/// Writes a zar image (docs/zar-format.md). File data is streamed to the output in the order
/// entries are added; metadata is kept per entry (no file bytes) and written, sorted, at the end,
/// so the same input gives a byte-identical image.
/// </summary>
public sealed class ZarWriter
{
    public const int PageSize = 4096;

    sealed class Node
    {
        public required Entry Entry;
        public Node? Primary;            // for hardlinks: the node whose data and metadata this name shares
        public ulong Begin, End;
        public uint ContentId = ZarEntryRecord.NoContent;
        public List<ZarExtentRecord>? Extents;
        public byte[] PathBytes = Array.Empty<byte>();
        public Node Inode => Primary ?? this;
    }

    readonly Stream _out;
    readonly ZarWriterOptions _options;
    readonly Dictionary<string, Node> _nodes = new();
    readonly Dictionary<long, Node> _bySourceInode = new();
    readonly Dictionary<(UInt128 Digest, long Length), (ulong Begin, ulong End, uint Id)> _contents = new();
    readonly List<byte[]> _hashes = new();
    readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
    long _pos;
    long _progress;
    long _dedupFiles, _dedupBytes, _holeBytes, _storedBytes;
    bool _finished;

    readonly byte[] _compare = new byte[1 << 16];
    readonly XxHash128 _hash = new();

    public ZarWriter(Stream output, ZarWriterOptions? options = null)
    {
        _options = options ?? new ZarWriterOptions();
        if (!output.CanSeek || !output.CanWrite || _options.Deduplicate && !output.CanRead)
            throw new ArgumentException("zar output must be a seekable, writable (and, to deduplicate, readable) stream");
        _out = output;
        _pos = 0;
        _out.Position = 0;
    }

    /// <summary>
    /// Adds an entry. Regular files need <paramref name="data"/>: their stored bytes, data extent after
    /// extent (<paramref name="extents"/>; null: the whole file, no holes). A later entry with the same path replaces the
    /// earlier one. Hardlinks are either <see cref="EntryType.Hardlink"/> entries naming an earlier
    /// path, or entries sharing a non-zero <see cref="Entry.Inode"/> with an earlier one (data ignored).
    /// </summary>
    public void Add(Entry entry, Stream? data = null, IReadOnlyList<DataExtent>? extents = null)
    {
        if (_finished) throw new InvalidOperationException("writer already finished");
        if (!ZarPath.IsNormal(entry.Path)) throw new ZarException($"{ZarPath.Display(entry.Path)}: not a normalized path");
        if (entry.Path.Length == 0 && entry.Type != EntryType.Directory) throw new ZarException("the root must be a directory");

        if (entry.Type == EntryType.Hardlink)
        {
            var target = entry.LinkTarget ?? "";
            if (!_nodes.TryGetValue(target, out var t) || t.Entry.Type == EntryType.Directory)
                throw new ZarException($"{ZarPath.Display(entry.Path)}: hardlink target {ZarPath.Display(target)} is missing or a directory");
            _nodes[entry.Path] = new Node { Entry = t.Inode.Entry.With(path: entry.Path), Primary = t.Inode };
            return;
        }
        if (entry.Type != EntryType.Directory && entry.Inode != 0 && _bySourceInode.TryGetValue(entry.Inode, out var primary))
        {
            _nodes[entry.Path] = new Node { Entry = entry, Primary = primary };
            return;
        }

        var node = new Node { Entry = entry };
        if (entry.Type == EntryType.Regular) WriteData(node, data, extents ?? WholeFile(entry.Size));
        if (entry.Type != EntryType.Directory && entry.Inode != 0) _bySourceInode[entry.Inode] = node;
        _nodes[entry.Path] = node;
    }

    static IReadOnlyList<DataExtent> WholeFile(long size) => size == 0 ? [] : [new DataExtent(0, size)];

    void WriteData(Node node, Stream? data, IReadOnlyList<DataExtent> extents)
    {
        var e = node.Entry;
        long stored = 0;
        long lastEnd = 0;
        foreach (var x in extents)
        {
            if (x.Offset < lastEnd || x.Length < 0 || x.End > e.Size) throw new ZarException($"{ZarPath.Display(e.Path)}: data extents are not ordered within the file size");
            lastEnd = x.End;
            stored += x.Length;
        }
        bool sparse = !DataExtent.CoverWhole(extents, e.Size);
        _holeBytes += e.Size - stored;
        if (stored == 0)
        {
            node.Begin = node.End = (ulong)_pos;
            if (sparse) node.Extents = new();
            return;
        }
        if (data == null) throw new ZarException($"{ZarPath.Display(e.Path)}: no data given for a regular file");

        if (_options.PageAlign) _pos = Align(_pos, PageSize);
        long start = _pos;
        MoveTo(start);
        _hash.Reset();
        long left = stored;
        while (left > 0)
        {
            int n = data.Read(_buffer, 0, (int)Math.Min(_buffer.Length, left));
            if (n <= 0) throw new ZarException($"{ZarPath.Display(e.Path)}: data ended {left} bytes early (file changed while reading?)");
            _hash.Append(_buffer.AsSpan(0, n));
            _out.Write(_buffer, 0, n);
            left -= n;
            _progress += n;
            _options.Progress?.Report(_progress);
        }
        var hash = _hash.GetCurrentHash();
        var key = (_hash.GetCurrentHashAsUInt128(), stored);
        if (!sparse && _options.Deduplicate && _contents.TryGetValue(key, out var existing) && SameBytes(existing.Begin, (ulong)start, stored))
        {
            // Same bytes already stored: point at them and let the next file overwrite these.
            node.Begin = existing.Begin;
            node.End = existing.End;
            node.ContentId = existing.Id;
            _pos = start;
            _dedupFiles++;
            _dedupBytes += stored;
            return;
        }
        uint id = (uint)_hashes.Count;
        _hashes.Add(hash);
        _storedBytes += stored;
        if (!sparse) _contents.TryAdd(key, ((ulong)start, (ulong)(start + stored), id));
        node.Begin = (ulong)start;
        node.End = (ulong)(start + stored);
        node.ContentId = id;
        _pos = start + stored;
        if (sparse)
        {
            node.Extents = new List<ZarExtentRecord>(extents.Count);
            long at = start;
            foreach (var x in extents)
            {
                if (x.Length == 0) continue;
                node.Extents.Add(new ZarExtentRecord((ulong)x.Offset, (ulong)x.Length, (ulong)at));
                at += x.Length;
            }
        }
    }

    static readonly byte[] Padding = new byte[PageSize];

    /// <summary>
    /// Alignment padding is written as zeros rather than sought over: setting the position flushes the output's
    /// buffer, so seeking cost one write call per small file; written, consecutive small files leave in one.
    /// </summary>
    void MoveTo(long position)
    {
        long gap = position - _out.Position;
        if (gap > 0 && gap < PageSize) _out.Write(Padding, 0, (int)gap);
        else if (gap != 0) _out.Position = position;
    }

    /// <summary>
    /// XXH3 is not collision-resistant, so a digest match is only trusted after comparing the bytes:
    /// a crafted collision can never make two different files share data.
    /// </summary>
    bool SameBytes(ulong earlier, ulong current, long length)
    {
        _out.Flush();
        var other = _buffer.AsSpan(0, _compare.Length);
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(_compare.Length, length - done);
            _out.Position = (long)earlier + done;
            _out.ReadExactly(_compare, 0, n);
            _out.Position = (long)current + done;
            _out.ReadExactly(other[..n]);
            if (!_compare.AsSpan(0, n).SequenceEqual(other[..n])) { _out.Position = (long)current + length; return false; }
            done += n;
        }
        _out.Position = (long)current + length;
        return true;
    }

    /// <summary>The path index's hash: XXH3-64 of the path bytes.</summary>
    public static ulong PathHash(ReadOnlySpan<byte> path) => XxHash3.HashToUInt64(path);

    static long Align(long v, long a) => (v + a - 1) / a * a;

    /// <summary>Writes the metadata and footer. Missing parent directories are added as 0755 root-owned directories.</summary>
    public ZarWriteResult Finish()
    {
        if (_finished) throw new InvalidOperationException("writer already finished");
        _finished = true;
        ArrayPool<byte>.Shared.Return(_buffer);

        if (!_nodes.ContainsKey("")) _nodes[""] = new Node { Entry = ImplicitDirectory("") };
        foreach (var path in _nodes.Keys.ToList())
        {
            for (var p = ZarPath.Parent(path); path.Length > 0; p = ZarPath.Parent(p))
            {
                if (!_nodes.ContainsKey(p)) _nodes[p] = new Node { Entry = ImplicitDirectory(p) };
                if (p.Length == 0) break;
            }
        }

        var nodes = _nodes.Values.ToArray();
        foreach (var n in nodes) n.PathBytes = ZarPath.Encode(n.Entry.Path);
        Array.Sort(nodes, (a, b) => ZarPath.CompareBytes(a.PathBytes, b.PathBytes));
        var index = new Dictionary<string, int>(nodes.Length);
        for (int i = 0; i < nodes.Length; i++) index[nodes[i].Entry.Path] = i;

        var children = new List<int>[nodes.Length];
        for (int i = 1; i < nodes.Length; i++)
        {
            int parent = index[ZarPath.Parent(nodes[i].Entry.Path)];
            if (nodes[parent].Entry.Type != EntryType.Directory)
                throw new ZarException($"{ZarPath.Display(nodes[i].Entry.Path)}: its parent {ZarPath.Display(nodes[parent].Entry.Path)} is not a directory");
            (children[parent] ??= new()).Add(i);
        }

        // One inode number per file, shared by all names of a hardlinked file: 1 + the table index of its
        // first name, so a reader goes from an inode number to a record of the file without a search.
        var inodeNumbers = new Dictionary<Node, uint>(ReferenceEqualityComparer.Instance);
        var linkCounts = new Dictionary<Node, uint>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < nodes.Length; i++)
        {
            var n = nodes[i];
            inodeNumbers.TryAdd(n.Inode, (uint)i + 1);
            linkCounts[n.Inode] = linkCounts.GetValueOrDefault(n.Inode) + 1;
        }

        var strings = new ByteBuffer();
        var records = new byte[nodes.Length * ZarEntryRecord.Size];
        var childTable = new ByteBuffer();
        var extentTable = new ByteBuffer();
        var xattrTable = new ByteBuffer();
        uint childCount = 0, extentCount = 0, xattrCount = 0;
        long logical = 0, files = 0;
        Span<byte> tmp = stackalloc byte[ZarExtentRecord.Size];
        for (int i = 0; i < nodes.Length; i++)
        {
            var n = nodes[i];
            var inode = n.Inode;
            var e = inode.Entry;
            var rec = new ZarEntryRecord
            {
                PathOffset = strings.Append(n.PathBytes),
                PathLength = (uint)n.PathBytes.Length,
                Type = (byte)e.Type,
                Mode = e.Mode & 0xFFF,
                Uid = e.Uid,
                Gid = e.Gid,
                MtimeSeconds = e.MtimeSeconds,
                MtimeNanoseconds = e.MtimeNanoseconds,
                Inode = inodeNumbers[inode],
                LinkCount = e.Type == EntryType.Directory ? 1 : linkCounts[inode],
                ContentId = ZarEntryRecord.NoContent,
            };
            if (e.MtimeNanoseconds >= 1_000_000_000) throw new ZarException($"{ZarPath.Display(e.Path)}: mtime nanoseconds out of range");
            switch (e.Type)
            {
                case EntryType.Regular:
                    rec.Size_ = (ulong)e.Size;
                    rec.Begin = inode.Begin;
                    rec.End = inode.End;
                    rec.ContentId = inode.ContentId;
                    if (inode.Extents != null)
                    {
                        rec.Flags |= ZarEntryRecord.FlagSparse;
                        rec.FirstExtent = extentCount;
                        rec.ExtentCount = (uint)inode.Extents.Count;
                        foreach (var x in inode.Extents) { x.Write(tmp); extentTable.Append(tmp[..ZarExtentRecord.Size]); extentCount++; }
                    }
                    if (n.Primary == null) { logical += e.Size; files++; }
                    break;
                case EntryType.Symlink:
                    var target = ZarPath.Encode(e.LinkTarget ?? "");
                    rec.LinkOffset = strings.Append(target);
                    rec.LinkLength = (uint)target.Length;
                    break;
                case EntryType.CharDevice:
                case EntryType.BlockDevice:
                    rec.DevMajor = e.DevMajor;
                    rec.DevMinor = e.DevMinor;
                    break;
                case EntryType.Directory:
                    var kids = children[i];
                    rec.FirstChild = childCount;
                    rec.ChildCount = (uint)(kids?.Count ?? 0);
                    if (kids != null)
                        foreach (var k in kids) { BinaryPrimitives.WriteUInt32LittleEndian(tmp, (uint)k); childTable.Append(tmp[..4]); childCount++; }
                    break;
            }
            if (e.Xattrs.Count > 0)
            {
                rec.FirstXattr = xattrCount;
                rec.XattrCount = (uint)e.Xattrs.Count;
                foreach (var x in e.Xattrs.OrderBy(x => x.Name, ZarPath.NameComparer))
                {
                    var name = ZarPath.Encode(x.Name);
                    var xr = new ZarXattrRecord(strings.Append(name), (uint)name.Length, strings.Append(x.Value), (uint)x.Value.Length);
                    xr.Write(tmp);
                    xattrTable.Append(tmp[..ZarXattrRecord.Size]);
                    xattrCount++;
                }
            }
            rec.Write(records.AsSpan(i * ZarEntryRecord.Size));
        }

        // Metadata: header, sections (8-byte aligned), page-checksum table.
        var meta = new ByteBuffer();
        meta.Append(new byte[ZarMetadataHeader.Size]);
        ZarSection Section(ReadOnlySpan<byte> bytes, ulong count)
        {
            meta.PadTo(8);
            var s = new ZarSection((ulong)meta.Length, count);
            meta.Append(bytes);
            return s;
        }
        var hashes = new byte[_hashes.Count * ZarMetadataHeader.DigestSize];
        for (int i = 0; i < _hashes.Count; i++) _hashes[i].CopyTo(hashes, i * ZarMetadataHeader.DigestSize);
        var header = new ZarMetadataHeader
        {
            Entries = Section(records, (ulong)nodes.Length),
            Children = Section(childTable.Span, childCount),
            Extents = Section(extentTable.Span, extentCount),
            Xattrs = Section(xattrTable.Span, xattrCount),
            Contents = Section(hashes, (ulong)_hashes.Count),
            Strings = Section(strings.Span, (ulong)strings.Length),
        };
        // Hash pathIndex over the paths: a look-up costs one or two probes instead of log2(n) cache misses.
        ulong slots = Math.Max(8UL, BitOperations.RoundUpToPowerOf2((ulong)nodes.Length * 2));
        var pathIndex = new byte[slots * 4];
        pathIndex.AsSpan().Fill(0xFF);
        for (int i = 0; i < nodes.Length; i++)
        {
            ulong slot = PathHash(nodes[i].PathBytes) & (slots - 1);
            while (BinaryPrimitives.ReadUInt32LittleEndian(pathIndex.AsSpan((int)slot * 4)) != uint.MaxValue) slot = (slot + 1) & (slots - 1);
            BinaryPrimitives.WriteUInt32LittleEndian(pathIndex.AsSpan((int)slot * 4), (uint)i);
        }
        header = header with { PathIndex = Section(pathIndex, slots) };
        meta.PadTo(8);
        header = header with { ChecksumTableOffset = (ulong)meta.Length };
        header.Write(meta.WritableSpan[..ZarMetadataHeader.Size]);
        int covered = meta.Length;
        int pages = (covered + (int)ZarMetadataHeader.ChecksumPageSize - 1) / (int)ZarMetadataHeader.ChecksumPageSize;
        var table = new byte[pages * 4];
        for (int p = 0; p < pages; p++)
        {
            int from = p * (int)ZarMetadataHeader.ChecksumPageSize;
            int len = Math.Min((int)ZarMetadataHeader.ChecksumPageSize, covered - from);
            BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(p * 4), Crc32C.Compute(meta.Span.Slice(from, len)));
        }
        meta.Append(table);

        long metadataOffset = Align(_pos, 8);
        _out.Position = metadataOffset;
        _out.Write(meta.Span);
        long fileLength = metadataOffset + meta.Length + ZarFooter.Size;
        var footer = new ZarFooter
        {
            Flags = _options.PageAlign ? ZarFooter.FlagPageAligned : 0,
            MetadataLength = (ulong)meta.Length,
            EntryCount = (ulong)nodes.Length,
            FileLength = (ulong)fileLength,
            MetadataChecksum = Crc32C.Compute(table),
            MetadataOffset = (ulong)metadataOffset,
        };
        var fb = new byte[ZarFooter.Size];
        footer.Write(fb);
        _out.Write(fb);
        _out.SetLength(fileLength);
        _out.Flush();
        return new ZarWriteResult(nodes.Length, files, logical, _storedBytes, _dedupFiles, _dedupBytes, _holeBytes, fileLength);
    }

    static Entry ImplicitDirectory(string path) => new() { Path = path, Type = EntryType.Directory, Mode = 0x1ED /* 0755 */ };
}

/// <summary>A growable byte buffer for metadata sections (metadata grows with entry count only).</summary>
sealed class ByteBuffer
{
    byte[] _data = new byte[4096];
    public int Length { get; private set; }
    public ReadOnlySpan<byte> Span => _data.AsSpan(0, Length);
    public Span<byte> WritableSpan => _data.AsSpan(0, Length);

    public uint Append(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        int at = Length;
        bytes.CopyTo(_data.AsSpan(at));
        Length += bytes.Length;
        if ((long)at > uint.MaxValue) throw new ZarException("zar metadata section exceeds 4 GiB");
        return (uint)at;
    }

    public void PadTo(int alignment)
    {
        int pad = (alignment - Length % alignment) % alignment;
        Ensure(pad);
        _data.AsSpan(Length, pad).Clear();
        Length += pad;
    }

    void Ensure(int extra)
    {
        if ((long)Length + extra > Array.MaxLength) throw new ZarException("zar metadata exceeds 2 GiB");
        if (Length + extra <= _data.Length) return;
        Array.Resize(ref _data, (int)Math.Min(Array.MaxLength, Math.Max((long)_data.Length * 2, (long)Length + extra)));
    }
}
