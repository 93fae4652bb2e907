using System.Buffers.Binary;
using System.Security.Cryptography;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Erofs;

public sealed class ErofsWriterOptions
{
    /// <summary>
    /// Superblock build time. Compact inodes show it as their mtime, so by default it is the most
    /// common mtime of the tree (deterministic, and the most inodes can be compact).
    /// </summary>
    public long? BuildTime { get; init; }
    public uint BuildTimeNanoseconds { get; init; }

    /// <summary>16 bytes; default: derived from a hash of the tree's metadata (deterministic).</summary>
    public byte[]? Uuid { get; init; }

    /// <summary>At most 15 bytes (older kernels need a NUL terminator).</summary>
    public string? VolumeName { get; init; }

    /// <summary>Store file/directory/symlink tails right after their inode (FLAT_INLINE).</summary>
    public bool InlineData { get; init; } = true;

    /// <summary>Store xattrs that several inodes carry once, in the shared xattr area.</summary>
    public bool ShareXattrs { get; init; } = true;

    /// <summary>Store files with holes chunk-based, holes as null chunks instead of zero blocks.</summary>
    public bool SparseFiles { get; init; } = true;

    /// <summary>Receives the number of image bytes written so far.</summary>
    public IProgress<long>? Progress { get; init; }
}

public sealed record ErofsWriteResult(
    long ImageSize, long Blocks, long Inodes, long CompactInodes, long ExtendedInodes,
    long MetadataBlocks, long DataBlocks, long BuildTime, uint BuildTimeNanoseconds, string Uuid);

/// <summary>
/// Writes an uncompressed EROFS image (4096-byte blocks) from any read-only filesystem. Layout:
/// [superblock + inodes with inline xattrs/tails, best-fit packed][shared xattrs][directory and file
/// blocks in inode order]. The output is written strictly sequentially (pipes work); file data is
/// streamed from the source, only per-entry metadata is held in memory.
/// </summary>
public static class ErofsWriter
{
    public const int BlockSizeBits = 12;
    public const int BlockSize = 1 << BlockSizeBits;
    const int CopyBufferSize = 1 << 20;

    public static ErofsWriteResult Write(IReadOnlyFileSystem source, string outputPath, ErofsWriterOptions? options = null)
    {
        using var file = new AtomicFile(outputPath);
        var result = Write(source, file.Stream, options);
        file.Commit();
        return result;
    }

    public static ErofsWriteResult Write(IReadOnlyFileSystem source, Stream output, ErofsWriterOptions? options = null)
    {
        options ??= new ErofsWriterOptions();
        var plan = new Plan(source, options);
        plan.Collect();
        plan.Layout();
        return plan.Emit(output);
    }

    sealed class Node(Entry entry)
    {
        public Entry Entry = entry;
        public List<Xattr> Xattrs = new(entry.Xattrs);
        public List<Child>? Children;
        public Node? Parent;
        public uint Names;
        public int Subdirs;
        public int Order = -1;

        // Layout.
        public ErofsInode Inode = new();
        public List<StoredXattr> InlineXattrs = [];
        public List<int> SharedXattrIds = [];
        public int XattrBodySize;
        public long Size;
        public int TailLength;
        public long DataBlocks;
        public long StartBlock;
        public long Pos;
        public byte[]? LinkTarget;
        public Child[]? Dirents;
        public int[]? DirBlockStarts;
        public int ChunkBits;
        public long ChunkCount;
        public long[]? StoredChunks;

        public EntryType Type => Entry.Type;
        public long Nid => Pos / 32;
        public int RecordLength => Inode.InodeSize + XattrBodySize + TailLength + (int)(Inode.Layout == ErofsLayout.ChunkBased ? ChunkCount * 4 : 0);
    }

    readonly record struct Child(byte[] Name, Node Node);

    sealed class Plan(IReadOnlyFileSystem fs, ErofsWriterOptions options)
    {
        readonly List<Node> _nodes = [];
        Node _root = null!;
        readonly IncrementalHash _uuidHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long _buildTime;
        uint _buildNsec;
        List<StoredXattr> _shared = [];
        int _sharedBytes;
        long _metaBlocks, _xattrBlock, _xattrBlocks, _dataStart, _totalBlocks;
        bool _anyChunked;

        static readonly byte[] Dot = "."u8.ToArray(), DotDot = ".."u8.ToArray();

        string Where(Entry e) => $"{fs.Description}: {ZarPath.Display(e.Path)}";

        public void Collect()
        {
            _root = new Node(fs.Root) { Parent = null };
            if (!_root.Entry.IsDirectory) throw new ZarException($"{fs.Description}: root is not a directory");
            _root.Parent = _root;
            var hardlinks = new Dictionary<long, Node>();
            var stack = new Stack<Node>();
            stack.Push(_root);
            while (stack.Count > 0)
            {
                var dir = stack.Pop();
                dir.Children = [];
                foreach (var e in fs.List(dir.Entry))
                {
                    var name = ZarPath.Encode(e.Name);
                    if (name.Length == 0 || name.Length > ErofsFormat.MaxNameLength || name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0)
                        throw new ZarNotSupportedException($"{Where(e)}: name of {name.Length} bytes cannot be stored in EROFS (1..255 bytes)");
                    Node node;
                    if (e.Type == EntryType.Directory)
                    {
                        node = new Node(e) { Parent = dir };
                        dir.Subdirs++;
                        stack.Push(node);
                    }
                    else if (e.Type == EntryType.Hardlink)
                        throw new ZarNotSupportedException($"{Where(e)}: hardlink entries are not filesystem entries (resolve them first)");
                    else if (e.Inode != 0 && hardlinks.TryGetValue(e.Inode, out var existing))
                        node = existing;
                    else
                    {
                        node = new Node(e);
                        if (e.Inode != 0) hardlinks[e.Inode] = node;
                    }
                    node.Names++;
                    dir.Children.Add(new Child(name, node));
                }
                dir.Children.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
            }
            _root.Names = 1;
            OrderNodes();
        }

        /// <summary>Breadth-first: siblings' inodes end up near each other and directory nids stay small.</summary>
        void OrderNodes()
        {
            var queue = new Queue<Node>();
            _root.Order = 0;
            _nodes.Add(_root);
            queue.Enqueue(_root);
            while (queue.Count > 0)
            {
                var dir = queue.Dequeue();
                foreach (var c in dir.Children!)
                {
                    if (c.Node.Order >= 0) continue;
                    c.Node.Order = _nodes.Count;
                    _nodes.Add(c.Node);
                    if (c.Node.Type == EntryType.Directory) queue.Enqueue(c.Node);
                }
            }
        }

        public void Layout()
        {
            ChooseBuildTime();
            PrepareXattrs();
            foreach (var n in _nodes) LayoutNode(n);
            PlaceInodes();
            AllocateBlocks();
        }

        void ChooseBuildTime()
        {
            if (options.BuildTime is long t)
            {
                if (t < 0 || options.BuildTimeNanoseconds > 999_999_999) throw new ZarException($"EROFS build time {t}.{options.BuildTimeNanoseconds:D9} out of range");
                _buildTime = t;
                _buildNsec = options.BuildTimeNanoseconds;
                return;
            }
            var counts = new Dictionary<(long, uint), int>();
            foreach (var n in _nodes)
            {
                // The superblock time is unsigned on disk: pre-1970 mtimes need extended inodes anyway.
                if (n.Entry.MtimeSeconds < 0) continue;
                var k = (n.Entry.MtimeSeconds, n.Entry.MtimeNanoseconds);
                counts[k] = counts.GetValueOrDefault(k) + 1;
            }
            if (counts.Count == 0) { _buildTime = 0; _buildNsec = 0; return; }
            var best = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).First().Key;
            (_buildTime, _buildNsec) = best;
        }

        void PrepareXattrs()
        {
            var stored = new List<StoredXattr>[_nodes.Count];
            var counts = new Dictionary<StoredXattr, int>();
            for (int i = 0; i < _nodes.Count; i++)
            {
                var n = _nodes[i];
                var list = new List<StoredXattr>(n.Xattrs.Count);
                foreach (var x in n.Xattrs)
                {
                    if (!ErofsXattrs.TrySplit(x.Name, out byte index, out byte[] suffix))
                        throw new ZarNotSupportedException($"{Where(n.Entry)}: xattr {ZarPath.Display(x.Name)} has no EROFS name prefix (user., trusted., security., system.posix_acl_*)");
                    if (suffix.Length > 255 || x.Value.Length > 65535)
                        throw new ZarNotSupportedException($"{Where(n.Entry)}: xattr {ZarPath.Display(x.Name)} is too large for EROFS");
                    list.Add(new StoredXattr(index, suffix, x.Value, x.Name));
                }
                list.Sort(StoredXattr.Compare);
                stored[i] = list;
                if (options.ShareXattrs)
                    foreach (var s in list) counts[s] = counts.GetValueOrDefault(s) + 1;
            }
            // Sharing costs one 4-byte id per inode plus one copy; inline costs a copy per inode.
            _shared = counts.Where(kv => kv.Value >= 2 && kv.Key.Size + 4L * kv.Value < (long)kv.Key.Size * kv.Value)
                .Select(kv => kv.Key).ToList();
            _shared.Sort(StoredXattr.Compare);
            var ids = new Dictionary<StoredXattr, int>();
            foreach (var s in _shared) { ids[s] = _sharedBytes / 4; _sharedBytes += s.Size; }
            for (int i = 0; i < _nodes.Count; i++)
            {
                var n = _nodes[i];
                if (stored[i].Count == 0) continue;
                int body = ErofsXattrs.HeaderSize;
                foreach (var s in stored[i])
                {
                    // h_shared_count is one byte.
                    if (n.SharedXattrIds.Count < 255 && ids.TryGetValue(s, out int id)) { n.SharedXattrIds.Add(id); body += 4; }
                    else { n.InlineXattrs.Add(s); body += s.Size; }
                }
                if (ErofsInode.XattrCountFor(body) > ushort.MaxValue)
                    throw new ZarNotSupportedException($"{Where(n.Entry)}: xattrs too large for EROFS ({body} bytes)");
                n.XattrBodySize = body;
            }
        }

        void LayoutNode(Node n)
        {
            var e = n.Entry;
            var ino = n.Inode;
            ino.Mode = (ushort)e.UnixMode;
            ino.Uid = e.Uid;
            ino.Gid = e.Gid;
            ino.MtimeSeconds = e.MtimeSeconds;
            ino.MtimeNanoseconds = e.MtimeNanoseconds;
            ino.Nlink = n.Type == EntryType.Directory ? 2u + (uint)n.Subdirs : n.Names;
            ino.Ino = (uint)n.Order;
            ino.XattrCount = (ushort)ErofsInode.XattrCountFor(n.XattrBodySize);
            switch (n.Type)
            {
                case EntryType.Regular: n.Size = e.Size; break;
                case EntryType.Directory: n.Size = PackDirectory(n); break;
                case EntryType.Symlink:
                    n.LinkTarget = ZarPath.Encode(e.LinkTarget ?? "");
                    if (n.LinkTarget.Length >= BlockSize)
                        throw new ZarNotSupportedException($"{Where(e)}: symlink target of {n.LinkTarget.Length} bytes is too long");
                    n.Size = n.LinkTarget.Length;
                    break;
                case EntryType.CharDevice or EntryType.BlockDevice:
                    ino.U = ErofsFormat.EncodeDev(e.DevMajor, e.DevMinor);
                    break;
            }
            if (n.Size < 0) throw new ZarFormatException($"{Where(e)}: negative size");
            ino.Size = (ulong)n.Size;
            // Compact inodes have no mtime of their own on kernels before 6.15: they show the build time.
            ino.Extended = e.Uid > ushort.MaxValue || e.Gid > ushort.MaxValue || ino.Nlink > ushort.MaxValue
                || n.Size > uint.MaxValue || e.MtimeSeconds != _buildTime || e.MtimeNanoseconds != _buildNsec;

            if (n.Type is not (EntryType.Regular or EntryType.Directory or EntryType.Symlink) || n.Size == 0)
            {
                ino.Layout = ErofsLayout.FlatPlain;
                return;
            }
            if (n.Type == EntryType.Regular && options.SparseFiles && TryChunked(n)) return;
            int tail = (int)(n.Size % BlockSize);
            if (options.InlineData && tail != 0 && ino.InodeSize + n.XattrBodySize + tail <= BlockSize)
            {
                ino.Layout = ErofsLayout.FlatInline;
                n.TailLength = tail;
                n.DataBlocks = n.Size / BlockSize;
            }
            else
            {
                ino.Layout = ErofsLayout.FlatPlain;
                n.DataBlocks = (n.Size + BlockSize - 1) / BlockSize;
            }
        }

        /// <summary>
        /// Files with holes: chunk-based with a 4-byte block map, null entries for chunks that hold no
        /// data. The chunk size minimising stored blocks plus map bytes wins, if clearly below a flat layout.
        /// </summary>
        bool TryChunked(Node n)
        {
            var extents = fs.GetExtents(n.Entry);
            long dataBytes = 0;
            foreach (var x in extents) dataBytes += x.Length;
            long flatCost = (n.Size + BlockSize - 1) / BlockSize * BlockSize;
            if (dataBytes + BlockSize >= flatCost) return false;
            long bestCost = long.MaxValue;
            int bestBits = -1;
            for (int bits = 0; bits <= 31; bits++)
            {
                long cs = (long)BlockSize << bits;
                long chunks = (n.Size + cs - 1) / cs;
                long stored = StoredBlocks(n.Size, extents, cs, null);
                long cost = stored * BlockSize + chunks * 4;
                if (cost < bestCost) { bestCost = cost; bestBits = bits; }
                if (chunks == 1) break;
            }
            if (bestBits < 0 || bestCost + BlockSize >= flatCost) return false;
            long chunkSize = (long)BlockSize << bestBits;
            var storedChunks = new List<long>();
            n.DataBlocks = StoredBlocks(n.Size, extents, chunkSize, storedChunks);
            n.ChunkBits = bestBits;
            n.ChunkCount = (n.Size + chunkSize - 1) / chunkSize;
            n.StoredChunks = storedChunks.ToArray();
            n.Inode.Layout = ErofsLayout.ChunkBased;
            n.Inode.U = (uint)bestBits; // block map (no INDEXES bit): 4-byte entries, no device id
            _anyChunked = true;
            return true;
        }

        static long StoredBlocks(long size, IReadOnlyList<DataExtent> extents, long chunkSize, List<long>? chunks)
        {
            long blocks = 0, last = -1;
            foreach (var x in extents)
            {
                if (x.Length <= 0) continue;
                long first = Math.Max(x.Offset / chunkSize, last + 1), end = Math.Min(x.End, size);
                if (end <= x.Offset) continue;
                long lastChunk = (end - 1) / chunkSize;
                for (long k = first; k <= lastChunk; k++)
                {
                    long len = Math.Min(chunkSize, size - k * chunkSize);
                    blocks += (len + BlockSize - 1) / BlockSize;
                    chunks?.Add(k);
                }
                if (lastChunk > last) last = lastChunk;
            }
            return blocks;
        }

        /// <summary>Sorted dirents incl. "." and "..", packed into blocks; returns the directory size.</summary>
        long PackDirectory(Node dir)
        {
            var all = new Child[dir.Children!.Count + 2];
            all[0] = new Child(Dot, dir);
            all[1] = new Child(DotDot, dir.Parent!);
            dir.Children.CopyTo(all, 2);
            Array.Sort(all, (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
            for (int i = 1; i < all.Length; i++)
                if (all[i].Name.AsSpan().SequenceEqual(all[i - 1].Name))
                    throw new ZarFormatException($"{Where(dir.Entry)}: duplicate name {ZarPath.Display(ZarPath.Decode(all[i].Name))}");
            var starts = new List<int> { 0 };
            int used = 0;
            for (int i = 0; i < all.Length; i++)
            {
                int need = ErofsFormat.DirentSize + all[i].Name.Length;
                if (used + need > BlockSize) { starts.Add(i); used = 0; }
                used += need;
            }
            dir.Dirents = all;
            dir.DirBlockStarts = starts.ToArray();
            return (long)(starts.Count - 1) * BlockSize + used;
        }

        /// <summary>
        /// Best fit: every inode record (inode, xattrs, inline tail) stays inside one block, so the
        /// free rest of each block is kept in buckets by size and filled by later, smaller records.
        /// </summary>
        void PlaceInodes()
        {
            const int units = BlockSize / 32;
            var free = new Stack<long>[units + 1];
            for (int i = 0; i <= units; i++) free[i] = new Stack<long>();
            long frontier = BlockSize;
            int firstFree = ErofsFormat.SuperblockOffset + ErofsFormat.SuperblockSize;
            free[(BlockSize - firstFree) / 32].Push(firstFree);
            void AddFree(long pos, long len) { if (len >= 32) free[len / 32].Push(pos); }

            foreach (var n in _nodes)
            {
                long need = (n.RecordLength + 31) & ~31L;
                if (need > BlockSize)
                {
                    // Only chunk maps (or huge xattr bodies) get here; they may span blocks.
                    n.Pos = frontier;
                    long end = frontier + need;
                    frontier = (end + BlockSize - 1) / BlockSize * BlockSize;
                    AddFree(end, frontier - end);
                    continue;
                }
                int u = (int)(need / 32);
                int found = -1;
                for (int k = u; k <= units; k++) if (free[k].Count > 0) { found = k; break; }
                long pos;
                if (found < 0) { pos = frontier; frontier += BlockSize; found = units; }
                else pos = free[found].Pop();
                n.Pos = pos;
                AddFree(pos + need, found * 32L - need);
            }
            if (_root.Nid > ushort.MaxValue) throw new ZarException("EROFS root inode beyond nid 65535");
            _metaBlocks = frontier / BlockSize;
        }

        void AllocateBlocks()
        {
            _xattrBlock = _sharedBytes == 0 ? 0 : _metaBlocks;
            _xattrBlocks = (_sharedBytes + BlockSize - 1) / BlockSize;
            _dataStart = _metaBlocks + _xattrBlocks;
            long next = _dataStart;
            foreach (var n in _nodes)
            {
                if (n.DataBlocks == 0)
                {
                    if (n.Inode.Layout == ErofsLayout.FlatInline) n.Inode.U = ErofsFormat.NullAddress;
                    continue;
                }
                n.StartBlock = next;
                next += n.DataBlocks;
                if (n.Inode.Layout != ErofsLayout.ChunkBased) n.Inode.U = (uint)Math.Min(n.StartBlock, uint.MaxValue);
            }
            _totalBlocks = next;
            if (_totalBlocks >= uint.MaxValue) throw new ZarNotSupportedException($"{fs.Description}: too large for an EROFS image with 4096-byte blocks (16 TiB)");
        }

        byte[] Uuid()
        {
            if (options.Uuid is { } u)
            {
                if (u.Length != 16) throw new ZarException("EROFS uuid must be 16 bytes");
                return u;
            }
            Span<byte> b = stackalloc byte[48];
            foreach (var n in _nodes)
            {
                var e = n.Entry;
                BinaryPrimitives.WriteInt64LittleEndian(b, n.Nid);
                BinaryPrimitives.WriteUInt32LittleEndian(b[8..], n.Inode.Mode);
                BinaryPrimitives.WriteUInt32LittleEndian(b[12..], e.Uid);
                BinaryPrimitives.WriteUInt32LittleEndian(b[16..], e.Gid);
                BinaryPrimitives.WriteInt64LittleEndian(b[20..], e.MtimeSeconds);
                BinaryPrimitives.WriteUInt32LittleEndian(b[28..], e.MtimeNanoseconds);
                BinaryPrimitives.WriteInt64LittleEndian(b[32..], n.Size);
                BinaryPrimitives.WriteUInt32LittleEndian(b[40..], n.Inode.U);
                BinaryPrimitives.WriteUInt32LittleEndian(b[44..], n.Inode.Nlink);
                _uuidHash.AppendData(b);
                _uuidHash.AppendData(ZarPath.Encode(e.Path));
                _uuidHash.AppendData([0]);
            }
            var h = _uuidHash.GetHashAndReset().AsSpan(0, 16).ToArray();
            h[6] = (byte)((h[6] & 0x0F) | 0x50); // name-based (SHA) UUID shape
            h[8] = (byte)((h[8] & 0x3F) | 0x80);
            return h;
        }

        ErofsSuperblock Superblock(byte[] uuid)
        {
            var volume = new byte[16];
            if (options.VolumeName is { } v)
            {
                var b = ZarPath.Encode(v);
                if (b.Length > 15) throw new ZarException($"EROFS volume name \"{v}\" is longer than 15 bytes");
                b.CopyTo(volume, 0);
            }
            return new ErofsSuperblock
            {
                FeatureCompat = ErofsFormat.CompatSbChecksum | ErofsFormat.CompatMtime,
                BlockSizeBits = BlockSizeBits,
                RootNid = (ushort)_root.Nid,
                Inodes = (ulong)_nodes.Count,
                BuildTime = _buildTime,
                BuildTimeNanoseconds = _buildNsec,
                Blocks = (uint)_totalBlocks,
                MetaBlockAddress = 0,
                XattrBlockAddress = (uint)_xattrBlock,
                Uuid = uuid,
                VolumeName = volume,
                FeatureIncompat = _anyChunked ? ErofsFormat.IncompatChunkedFile : 0,
            };
        }

        public ErofsWriteResult Emit(Stream output)
        {
            var uuid = Uuid();
            var sb = Superblock(uuid);
            var sink = new Sink(output, options.Progress);
            var meta = new MetaWriter(sink, sb);
            var byPos = _nodes.ToArray();
            Array.Sort(byPos, (a, b) => a.Pos.CompareTo(b.Pos));
            var record = new byte[BlockSize];
            foreach (var n in byPos)
            {
                int len = n.RecordLength;
                if (record.Length < len) record = new byte[len];
                BuildRecord(n, record.AsSpan(0, len));
                meta.Write(n.Pos, record.AsSpan(0, len));
            }
            meta.FinishThrough(_metaBlocks);

            if (_sharedBytes > 0)
            {
                var area = new byte[_xattrBlocks * BlockSize];
                int off = 0;
                foreach (var s in _shared) off += ErofsXattrs.WriteEntry(area.AsSpan(off), s.Index, s.Suffix, s.Value);
                sink.Write(area);
            }

            var buffer = new byte[CopyBufferSize];
            foreach (var n in _nodes)
            {
                if (n.DataBlocks == 0) continue;
                if (sink.Position != n.StartBlock * BlockSize) throw new InvalidOperationException("EROFS writer: data out of place");
                switch (n.Type)
                {
                    case EntryType.Directory:
                        for (int b = 0; b < n.DataBlocks; b++) { buffer.AsSpan(0, BlockSize).Clear(); BuildDirBlock(n, b, buffer); sink.Write(buffer.AsSpan(0, BlockSize)); }
                        break;
                    case EntryType.Symlink:
                        buffer.AsSpan(0, BlockSize).Clear();
                        n.LinkTarget!.CopyTo(buffer, 0);
                        sink.Write(buffer.AsSpan(0, BlockSize));
                        break;
                    default:
                        if (n.Inode.Layout == ErofsLayout.ChunkBased)
                        {
                            long cs = (long)BlockSize << n.ChunkBits;
                            foreach (long k in n.StoredChunks!)
                                CopyData(n, k * cs, Math.Min(cs, n.Size - k * cs), sink, buffer);
                        }
                        else CopyData(n, 0, Math.Min(n.Size, n.DataBlocks * BlockSize), sink, buffer);
                        break;
                }
            }
            if (sink.Position != _totalBlocks * BlockSize) throw new InvalidOperationException("EROFS writer: size mismatch");
            sink.Flush();
            long compact = _nodes.Count(n => !n.Inode.Extended);
            return new ErofsWriteResult(sink.Position, _totalBlocks, _nodes.Count, compact, _nodes.Count - compact,
                _metaBlocks, _totalBlocks - _dataStart, _buildTime, _buildNsec, sb.UuidText);
        }

        /// <summary>Copies a byte range of a file, zero-padded to whole blocks.</summary>
        void CopyData(Node n, long offset, long length, Sink sink, byte[] buffer)
        {
            long done = 0;
            while (done < length)
            {
                int want = (int)Math.Min(buffer.Length, length - done);
                int got = fs.ReadFully(n.Entry, offset + done, buffer.AsSpan(0, want));
                if (got != want) throw new ZarException($"{Where(n.Entry)}: file shrank while being read ({offset + done + got} of {n.Size} bytes)");
                done += got;
                if (done == length)
                {
                    int pad = (int)((BlockSize - length % BlockSize) % BlockSize);
                    int inBuf = got + pad;
                    if (inBuf <= buffer.Length)
                    {
                        buffer.AsSpan(got, pad).Clear();
                        sink.Write(buffer.AsSpan(0, inBuf));
                        return;
                    }
                    sink.Write(buffer.AsSpan(0, got));
                    sink.WriteZeros(pad);
                    return;
                }
                sink.Write(buffer.AsSpan(0, got));
            }
        }

        void BuildRecord(Node n, Span<byte> rec)
        {
            rec.Clear();
            n.Inode.WriteTo(rec);
            int off = n.Inode.InodeSize;
            if (n.XattrBodySize > 0)
            {
                rec[off + 4] = (byte)n.SharedXattrIds.Count;
                off += ErofsXattrs.HeaderSize;
                foreach (int id in n.SharedXattrIds) { BinaryPrimitives.WriteUInt32LittleEndian(rec[off..], (uint)id); off += 4; }
                foreach (var x in n.InlineXattrs) off += ErofsXattrs.WriteEntry(rec[off..], x.Index, x.Suffix, x.Value);
            }
            if (n.TailLength > 0)
            {
                var tail = rec.Slice(off, n.TailLength);
                long tailOffset = n.DataBlocks * BlockSize;
                switch (n.Type)
                {
                    case EntryType.Regular:
                        int got = fs.ReadFully(n.Entry, tailOffset, tail);
                        if (got != tail.Length) throw new ZarException($"{Where(n.Entry)}: file shrank while being read");
                        break;
                    case EntryType.Directory:
                        var block = new byte[BlockSize];
                        BuildDirBlock(n, (int)n.DataBlocks, block);
                        block.AsSpan(0, tail.Length).CopyTo(tail);
                        break;
                    case EntryType.Symlink:
                        n.LinkTarget.CopyTo(tail);
                        break;
                }
            }
            else if (n.Inode.Layout == ErofsLayout.ChunkBased)
            {
                var map = rec[off..];
                long block = n.StartBlock;
                long cs = (long)BlockSize << n.ChunkBits;
                int s = 0;
                var stored = n.StoredChunks!;
                for (long k = 0; k < n.ChunkCount; k++)
                {
                    uint addr = ErofsFormat.NullAddress;
                    if (s < stored.Length && stored[s] == k)
                    {
                        addr = (uint)block;
                        block += (Math.Min(cs, n.Size - k * cs) + BlockSize - 1) / BlockSize;
                        s++;
                    }
                    BinaryPrimitives.WriteUInt32LittleEndian(map[(int)(k * 4)..], addr);
                }
            }
        }

        void BuildDirBlock(Node dir, int blockIndex, Span<byte> block)
        {
            var all = dir.Dirents!;
            var starts = dir.DirBlockStarts!;
            int first = starts[blockIndex], end = blockIndex + 1 < starts.Length ? starts[blockIndex + 1] : all.Length;
            int count = end - first;
            int nameOff = count * ErofsFormat.DirentSize;
            for (int i = 0; i < count; i++)
            {
                var c = all[first + i];
                var d = block[(i * ErofsFormat.DirentSize)..];
                BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)c.Node.Nid);
                BinaryPrimitives.WriteUInt16LittleEndian(d[8..], (ushort)nameOff);
                d[10] = ErofsFormat.FileType(c.Node.Type);
                d[11] = 0;
                c.Name.CopyTo(block[nameOff..]);
                nameOff += c.Name.Length;
            }
        }
    }

    /// <summary>Sequential output with a byte count and throttled progress.</summary>
    sealed class Sink(Stream output, IProgress<long>? progress)
    {
        static readonly byte[] Zeros = new byte[1 << 16];
        long _lastReport;
        public long Position { get; private set; }

        public void Write(ReadOnlySpan<byte> data)
        {
            output.Write(data);
            Position += data.Length;
            if (progress != null && Position - _lastReport >= 1 << 22) { _lastReport = Position; progress.Report(Position); }
        }

        public void WriteZeros(long count)
        {
            while (count > 0) { int n = (int)Math.Min(count, Zeros.Length); Write(Zeros.AsSpan(0, n)); count -= n; }
        }

        public void Flush()
        {
            output.Flush();
            progress?.Report(Position);
        }
    }

    /// <summary>
    /// Emits the metadata blocks in order from records given in position order; block 0 gets the
    /// superblock and its checksum (which covers the inodes sharing that block) when it is complete.
    /// </summary>
    sealed class MetaWriter(Sink sink, ErofsSuperblock sb)
    {
        readonly byte[] _block = new byte[BlockSize];
        long _blockNo;

        public void Write(long pos, ReadOnlySpan<byte> data)
        {
            while (data.Length > 0)
            {
                long blk = pos / BlockSize;
                while (_blockNo < blk) Flush();
                int at = (int)(pos % BlockSize);
                int n = Math.Min(data.Length, BlockSize - at);
                data[..n].CopyTo(_block.AsSpan(at));
                data = data[n..];
                pos += n;
            }
        }

        public void FinishThrough(long blocks)
        {
            while (_blockNo < blocks) Flush();
        }

        void Flush()
        {
            if (_blockNo == 0)
            {
                var s = _block.AsSpan(ErofsFormat.SuperblockOffset);
                sb.WriteTo(s);
                uint crc = ErofsSuperblock.ComputeChecksum(s, BlockSize);
                BinaryPrimitives.WriteUInt32LittleEndian(s[4..], crc);
            }
            sink.Write(_block);
            Array.Clear(_block);
            _blockNo++;
        }
    }
}
