using System.Buffers.Binary;
using Zar.Blobs;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// An uncompressed EROFS image (plain, inline and chunk-based layouts; any block size 512..4096;
/// flat-mode device tables as in tarfs disks) read through a memory map. Every on-disk number is
/// range-checked: a damaged image gives a one-line <see cref="ZarFormatException"/>. Inode numbers are
/// nid + 1 (nid 0 is a valid inode when meta_blkaddr is not 0). Data on extra devices (the EROFS device
/// table) is read from the device files given to <see cref="Open(string, IReadOnlyList{string}?)"/>, in
/// table order, as <c>mount -o device=</c> takes them; without device files the kernel's flat mode
/// applies: a device's blocks are inside the image from its mapped_blkaddr on.
/// </summary>
public sealed unsafe class ErofsImage : IReadOnlyFileSystem, IDescribeImage
{
    readonly string _path;
    readonly MappedFile _image;
    readonly IBlob?[] _devices = [];
    readonly long _length;
    readonly int _bs, _bits;
    readonly long _metaBase, _xattrBase;
    readonly ErofsDeviceSlot[] _slots = [];
    readonly bool _flatDevices;
    readonly int _deviceIdMask;
    readonly Entry _root;

    public ErofsSuperblock Superblock { get; }

    /// <summary>The device table: slot i describes device id i + 1.</summary>
    public IReadOnlyList<ErofsDeviceSlot> Devices => _slots;
    public string Description => $"EROFS image {_path}";
    public string FilePath => _path;

    public static ErofsImage Open(string path) => new(path, null);

    /// <summary>Opens an image whose data may sit on extra devices (files, in device-table order).</summary>
    public static ErofsImage Open(string path, IReadOnlyList<string>? devicePaths) => new(path, devicePaths);

    ErofsImage(string path, IReadOnlyList<string>? devicePaths)
    {
        _path = path;
        _image = MappedFile.Open(path, $"EROFS image {path}");
        _length = _image.Length;
        try
        {
            if (_length < ErofsFormat.SuperblockOffset + ErofsFormat.SuperblockSize)
                throw Corrupt($"too short for an EROFS image ({_length} bytes)");
            var raw = Span(ErofsFormat.SuperblockOffset, ErofsFormat.SuperblockSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(raw) != ErofsFormat.Magic) throw Corrupt("not an EROFS image (bad magic)");
            var sb = ErofsSuperblock.Parse(raw);
            if (sb.BlockSizeBits < ErofsFormat.MinBlockSizeBits || sb.BlockSizeBits > ErofsFormat.MaxBlockSizeBits) throw Corrupt($"unsupported block size 2^{sb.BlockSizeBits}");
            _bits = sb.BlockSizeBits;
            _bs = 1 << _bits;
            if ((sb.FeatureCompat & ErofsFormat.CompatSbChecksum) != 0)
            {
                int covered = ErofsSuperblock.ChecksumLength(_bs);
                uint crc = ErofsSuperblock.ComputeChecksum(Span(ErofsFormat.SuperblockOffset, covered), _bs);
                sb = sb with { ChecksumValid = crc == sb.Checksum };
                if (crc != sb.Checksum) throw Corrupt($"superblock checksum mismatch (stored 0x{sb.Checksum:x8}, computed 0x{crc:x8})");
            }
            Superblock = sb;
            if ((sb.FeatureIncompat & ErofsFormat.IncompatCompression) != 0)
                throw new ZarNotSupportedException($"{path}: compressed EROFS not supported");
            uint unknown = sb.FeatureIncompat & ~(ErofsFormat.IncompatChunkedFile | ErofsFormat.IncompatDeviceTable);
            if (unknown != 0) throw new ZarNotSupportedException($"{path}: EROFS feature 0x{unknown:x} not supported");
            if (sb.ExtSlots != 0 && ErofsFormat.SuperblockOffset + ErofsFormat.SuperblockSize + 16L * sb.ExtSlots > _length)
                throw Corrupt("superblock extension beyond the end");
            _metaBase = (long)sb.MetaBlockAddress << _bits;
            _xattrBase = (long)sb.XattrBlockAddress << _bits;
            if ((sb.FeatureIncompat & ErofsFormat.IncompatDeviceTable) != 0 && sb.ExtraDevices > 0)
            {
                _slots = new ErofsDeviceSlot[sb.ExtraDevices];
                long table = (long)sb.DeviceTableSlotOffset * ErofsDeviceSlot.Size;
                for (int i = 0; i < sb.ExtraDevices; i++)
                    _slots[i] = ErofsDeviceSlot.Read(Span(table + (long)i * ErofsDeviceSlot.Size, ErofsDeviceSlot.Size));
                _deviceIdMask = (int)(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)sb.ExtraDevices + 1) - 1);
                _devices = new IBlob?[sb.ExtraDevices];
                if (devicePaths != null && devicePaths.Count > sb.ExtraDevices)
                    throw new ZarException($"{path}: {devicePaths.Count} devices given, the image has {sb.ExtraDevices}");
                // As the kernel: device files given means multi-device mode, none means flat mode.
                _flatDevices = devicePaths is not { Count: > 0 };
                for (int i = 0; i < (devicePaths?.Count ?? 0); i++)
                    _devices[i] = new FileBlob(devicePaths![i], description: $"EROFS device {i + 1} {devicePaths[i]}");
            }
            else if (devicePaths is { Count: > 0 }) throw new ZarException($"{path}: the image has no extra devices");
            _root = MakeEntry(sb.RootNid, "");
            if (_root.Type != EntryType.Directory) throw Corrupt("root inode is not a directory");
        }
        catch (Exception e) when (IsParseSlip(e))
        {
            Dispose();
            throw Corrupt($"corrupted EROFS metadata ({e.GetType().Name})");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Key/value lines for <c>zar inspect</c>: the file, then the superblock fields.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var list = new List<KeyValuePair<string, string>> { new("file", _path), new("image size", _length.ToString()) };
        list.AddRange(Superblock.Describe());
        for (int i = 0; i < _slots.Length; i++)
        {
            var d = _slots[i];
            var where = d.MappedBlockAddress == 0 ? "a separate device" : $"mapped at block {d.MappedBlockAddress}";
            list.Add(new($"device {i + 1}", $"{d.Blocks} blocks, {where}{(d.Tag.Length > 0 ? ", tag " + ZarPath.Display(d.TagText) : "")}"));
        }
        return list;
    }

    ZarFormatException Corrupt(string what) => new($"{_path}: {what}");
    ZarFormatException Corrupt(string path, string what) => new($"{_path}: {ZarPath.Display(path)}: {what}");

    /// <summary>A bounds-checked view of image bytes; callers hold a lease on the mapping (public methods take one).</summary>
    ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > _length - length)
            throw Corrupt($"reference beyond the end of the image (offset {offset}, {length} bytes, image {_length} bytes)");
        return _image.Span(offset, length);
    }

    public Entry Root => _root;

    /// <summary>Inode plus where it is and what follows it.</summary>
    sealed class InodeInfo
    {
        public required ErofsInode Inode;
        public long Nid;
        public long Pos;
        public int XattrSize;
        public long AfterXattrs => Pos + Inode.InodeSize + XattrSize;
    }

    InodeInfo ReadInode(long nid, string path)
    {
        if (nid < 0 || nid > (_length >> 5)) throw Corrupt(path, $"inode number {nid} out of range");
        long pos = _metaBase + nid * 32;
        var head = Span(pos, 2);
        ushort format = BinaryPrimitives.ReadUInt16LittleEndian(head);
        if ((format & ~0xFu) != 0) throw new ZarNotSupportedException($"{_path}: {ZarPath.Display(path)}: inode format 0x{format:x} not supported");
        int size = (format & 1) != 0 ? ErofsFormat.ExtendedInodeSize : ErofsFormat.CompactInodeSize;
        var inode = ErofsInode.Parse(Span(pos, size), format);
        switch (inode.Layout)
        {
            case ErofsLayout.FlatPlain or ErofsLayout.FlatInline or ErofsLayout.ChunkBased: break;
            case ErofsLayout.CompressedFull or ErofsLayout.CompressedCompact:
                throw new ZarNotSupportedException($"{_path}: {ZarPath.Display(path)}: compressed EROFS not supported");
            default: throw Corrupt(path, $"invalid data layout {(int)inode.Layout}");
        }
        if (!inode.Extended)
        {
            // Kernels 6.15+ add the compact i_mtime to the epoch; older writers leave it 0 (= build time).
            inode.MtimeSeconds = Superblock.BuildTime + inode.CompactMtimeDelta;
            inode.MtimeNanoseconds = Superblock.BuildTimeNanoseconds;
        }
        if (inode.Size > long.MaxValue / 2) throw Corrupt(path, $"size {inode.Size} out of range");
        if (inode.MtimeNanoseconds > 999_999_999) inode.MtimeNanoseconds = 999_999_999;
        int xsize = inode.XattrSize;
        if (xsize > 0) Span(pos + size, xsize);
        return new InodeInfo { Inode = inode, Nid = nid, Pos = pos, XattrSize = xsize };
    }

    Entry MakeEntry(long nid, string path)
    {
        var info = ReadInode(nid, path);
        var ino = info.Inode;
        EntryType type;
        try { type = Entry.TypeFromUnixMode(ino.Mode); }
        catch (ZarFormatException) { throw Corrupt(path, $"unknown file type in mode 0{Convert.ToString(ino.Mode, 8)}"); }
        long size = (long)ino.Size;
        string? link = null;
        uint major = 0, minor = 0;
        bool sparse = false;
        switch (type)
        {
            case EntryType.Symlink:
                if (size > 65536) throw Corrupt(path, $"symlink target of {size} bytes");
                var target = new byte[size];
                if (ReadData(info, path, 0, target) != size) throw Corrupt(path, "symlink target truncated");
                link = ZarPath.Decode(target);
                break;
            case EntryType.CharDevice or EntryType.BlockDevice:
                (major, minor) = ErofsFormat.DecodeDev(ino.U);
                break;
            case EntryType.Regular when ino.Layout == ErofsLayout.ChunkBased:
                sparse = HasNullChunk(info, path);
                break;
        }
        return new Entry
        {
            Path = path,
            Type = type,
            Mode = ino.Mode & 0xFFFu,
            Uid = ino.Uid,
            Gid = ino.Gid,
            MtimeSeconds = ino.MtimeSeconds,
            MtimeNanoseconds = ino.MtimeNanoseconds,
            Size = type == EntryType.Regular ? size : 0,
            LinkTarget = link,
            DevMajor = major,
            DevMinor = minor,
            Xattrs = ReadXattrs(info, path),
            // nid 0 is legal when meta_blkaddr is not 0; inode numbers are never 0.
            Inode = nid + 1,
            LinkCount = type == EntryType.Directory ? 1 : Math.Max(1u, ino.Nlink),
            IsSparse = sparse,
        };
    }

    // ---- xattrs -------------------------------------------------------------------------------

    IReadOnlyList<Xattr> ReadXattrs(InodeInfo info, string path)
    {
        if (info.XattrSize == 0) return Array.Empty<Xattr>();
        if (info.XattrSize < ErofsXattrBodyHeader.Size) throw Corrupt(path, "xattr body too small");
        var body = Span(info.Pos + info.Inode.InodeSize, info.XattrSize);
        int shared = ErofsXattrBodyHeader.Read(body).SharedCount;
        int off = ErofsXattrBodyHeader.Size;
        if (off + shared * ErofsXattrBodyHeader.SharedIdSize > body.Length) throw Corrupt(path, "shared xattr count beyond the xattr body");
        var result = new List<Xattr>();
        for (int i = 0; i < shared; i++)
        {
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(body[(off + ErofsXattrBodyHeader.SharedIdSize * i)..]);
            long at = _xattrBase + id * 4L;
            int entrySize = ErofsXattrEntry.Read(Span(at, ErofsXattrEntry.HeaderSize)).EntrySize;
            ParseXattr(Span(at, entrySize), path, result);
        }
        off += shared * ErofsXattrBodyHeader.SharedIdSize;
        while (off < body.Length)
        {
            if (body.Length - off < ErofsXattrEntry.HeaderSize) throw Corrupt(path, "truncated xattr entry");
            int entrySize = ErofsXattrEntry.Read(body[off..]).EntrySize;
            if (off + entrySize > body.Length) throw Corrupt(path, "xattr entry beyond the xattr body");
            ParseXattr(body.Slice(off, entrySize), path, result);
            off += entrySize;
        }
        result.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
        for (int i = 1; i < result.Count; i++)
            if (result[i].Name == result[i - 1].Name) throw Corrupt(path, $"duplicate xattr {ZarPath.Display(result[i].Name)}");
        return result;
    }

    void ParseXattr(ReadOnlySpan<byte> e, string path, List<Xattr> into)
    {
        var entry = ErofsXattrEntry.Read(e);
        byte index = entry.NameIndex;
        var suffix = entry.Suffix(e);
        if (index >= 0x80) throw new ZarNotSupportedException($"{_path}: {ZarPath.Display(path)}: long xattr name prefixes not supported");
        if (suffix.IndexOf((byte)0) >= 0) throw Corrupt(path, "NUL in xattr name");
        var name = ErofsXattrNames.Join(index, suffix) ?? throw Corrupt(path, $"invalid xattr name index {index}");
        into.Add(new Xattr(name, entry.Value(e).ToArray()));
    }

    // ---- data mapping -------------------------------------------------------------------------

    /// <summary>
    /// Maps a logical offset to where its byte is: a blob (the image or an extra device) and an offset
    /// in it, or a null blob for a hole; plus the number of bytes contiguous from there (bounded by the file size).
    /// </summary>
    (IBlob? Blob, long Physical, long Length) Map(InodeInfo info, string path, long offset)
    {
        var ino = info.Inode;
        long size = (long)ino.Size;
        switch (ino.Layout)
        {
            case ErofsLayout.FlatPlain:
                return (_image, ((long)ino.U << _bits) + offset, size - offset);
            case ErofsLayout.FlatInline:
            {
                long tailStart = TailStart(size);
                if (offset < tailStart) return (_image, ((long)ino.U << _bits) + offset, tailStart - offset);
                return (_image, InlineTail(info, path) + (offset - tailStart), size - offset);
            }
            case ErofsLayout.ChunkBased:
            {
                var (chunkBits, unit, arrayPos) = ChunkGeometry(info, path);
                long chunk = offset >> chunkBits;
                long chunkStart = chunk << chunkBits;
                long within = Math.Min(1L << chunkBits, size - chunkStart) - (offset - chunkStart);
                var (blob, phys) = ChunkAddress(arrayPos, unit, chunk, path);
                return (blob, blob == null ? -1 : phys + (offset - chunkStart), within);
            }
            default:
                throw Corrupt(path, $"invalid data layout {(int)ino.Layout}");
        }
    }

    long TailStart(long size) => ((size - 1) >> _bits) << _bits;

    /// <summary>Where a FLAT_INLINE file's last block is stored: right after the inode and its xattrs, in one block.</summary>
    long InlineTail(InodeInfo info, string path)
    {
        long size = (long)info.Inode.Size;
        long at = info.AfterXattrs;
        if ((at & (_bs - 1)) + (size - TailStart(size)) > _bs) throw Corrupt(path, "inline data crosses a block boundary");
        return at;
    }

    (int ChunkBits, int Unit, long ArrayPos) ChunkGeometry(InodeInfo info, string path)
    {
        var format = new ErofsChunkFormat((ushort)info.Inode.U);
        if ((format.Value & ~(ErofsChunkFormat.BlockBitsMask | ErofsChunkFormat.IndexesBit)) != 0)
            throw new ZarNotSupportedException($"{_path}: {ZarPath.Display(path)}: chunk format 0x{format.Value:x} not supported");
        int chunkBits = _bits + format.ChunkBits;
        int unit = format.EntrySize;
        long arrayPos = (info.AfterXattrs + unit - 1) & ~(long)(unit - 1);
        long chunks = (((long)info.Inode.Size) + (1L << chunkBits) - 1) >> chunkBits;
        if (chunks > (_length - arrayPos) / unit) throw Corrupt(path, "chunk table beyond the end of the image");
        return (chunkBits, unit, arrayPos);
    }

    /// <summary>Where chunk <paramref name="chunk"/> starts (blob and offset), or a null blob for a hole.</summary>
    (IBlob? Blob, long Offset) ChunkAddress(long arrayPos, int unit, long chunk, string path)
    {
        var e = Span(arrayPos + chunk * unit, unit);
        if (unit == ErofsBlockMapEntry.Size)
        {
            var entry = ErofsBlockMapEntry.Read(e);
            return entry.IsHole ? (null, -1) : (_image, (long)entry.BlockAddress << _bits);
        }
        var index = ErofsChunkIndex.Read(e);
        if (index.IsHole) return (null, -1);
        int device = index.DeviceId & _deviceIdMask;
        if (device == 0) return (_image, (long)index.BlockAddress << _bits);
        if (device > _devices.Length) throw Corrupt(path, $"chunk on device {device}, the image has {_devices.Length} extra devices");
        var slot = _slots[device - 1];
        // Flat mode: the device's blocks are part of this image from mapped_blkaddr on (unless the image
        // is only the metadata, and the device a file of its own).
        if (_flatDevices && slot.MappedBlockAddress != 0 && ((long)slot.MappedBlockAddress + slot.Blocks) << _bits <= _length)
            return (_image, ((long)slot.MappedBlockAddress + index.BlockAddress) << _bits);
        var blob = _devices[device - 1]
            ?? throw new ZarNotSupportedException($"{_path}: {ZarPath.Display(path)}: data is on extra device {device}: give the device files (as mount -o device= does)");
        return (blob, (long)index.BlockAddress << _bits);
    }

    bool HasNullChunk(InodeInfo info, string path)
    {
        long size = (long)info.Inode.Size;
        if (size == 0) return false;
        var (chunkBits, unit, arrayPos) = ChunkGeometry(info, path);
        long chunks = (size + (1L << chunkBits) - 1) >> chunkBits;
        for (long k = 0; k < chunks; k++)
        {
            // The entries alone say it: a file on an extra device lists without the device at hand.
            var e = Span(arrayPos + k * unit, unit);
            if (unit == ErofsBlockMapEntry.Size ? ErofsBlockMapEntry.Read(e).IsHole : ErofsChunkIndex.Read(e).IsHole) return true;
        }
        return false;
    }

    int ReadData(InodeInfo info, string path, long offset, Span<byte> destination)
    {
        long size = (long)info.Inode.Size;
        if (offset >= size || destination.Length == 0) return 0;
        int total = (int)Math.Min(destination.Length, size - offset);
        int done = 0;
        while (done < total)
        {
            var (blob, phys, len) = Map(info, path, offset + done);
            if (len <= 0) throw Corrupt(path, "bad block mapping");
            int n = (int)Math.Min(total - done, len);
            if (blob == null) destination.Slice(done, n).Clear();
            else if (ReferenceEquals(blob, _image))
            {
                if (phys < 0 || phys > _length - n)
                    throw Corrupt(path, $"data block address out of range (offset {phys}, image {_length} bytes)");
                _image.Span(phys, n).CopyTo(destination[done..]);
            }
            else blob.ReadExactlyAt(phys, destination.Slice(done, n));
            done += n;
        }
        return total;
    }

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        if (file.Type != EntryType.Regular) throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: not a regular file");
        if (offset < 0) throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: negative read offset");
        using var lease = _image.Enter();
        try
        {
            var info = ReadInode(file.Inode - 1, file.Path);
            return ReadData(info, file.Path, offset, destination);
        }
        catch (Exception e) when (IsParseSlip(e)) { throw Corrupt(file.Path, $"corrupted EROFS metadata ({e.GetType().Name})"); }
    }

    /// <summary>The file's bytes as segments of the image and of extra devices; null chunks are holes.</summary>
    public FileData GetData(Entry file) => Guard(file.Path, () =>
    {
        if (file.Type != EntryType.Regular) throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: not a regular file");
        using var lease = _image.Enter();
        var info = ReadInode(file.Inode - 1, file.Path);
        long size = (long)info.Inode.Size;
        var segments = new List<FileSegment>();
        for (long at = 0; at < size;)
        {
            var (blob, phys, len) = Map(info, file.Path, at);
            if (len <= 0) throw Corrupt(file.Path, "bad block mapping");
            if (blob != null)
            {
                if (ReferenceEquals(blob, _image) && (phys < 0 || phys > _length - len))
                    throw Corrupt(file.Path, $"data block address out of range (offset {phys}, image {_length} bytes)");
                if (segments.Count > 0 && segments[^1] is var last && ReferenceEquals(last.Blob, blob) && last.End == at && last.BlobEnd == phys)
                    segments[^1] = last with { Length = last.Length + len };
                else segments.Add(new FileSegment(at, len, blob, phys));
            }
            at += len;
        }
        return new FileData(size, segments);
    });

    // ---- directories --------------------------------------------------------------------------

    readonly record struct Dirent(long Nid, byte[] Name, byte FileType);

    /// <summary>All dirents (including "." and ".."), checked for layout and strict name order.</summary>
    List<Dirent> ReadDirents(InodeInfo dir, string path)
    {
        long size = (long)dir.Inode.Size;
        var result = new List<Dirent>();
        var block = new byte[_bs];
        for (long k = 0; k << _bits < size; k++)
        {
            int before = result.Count;
            ReadDirBlock(dir, path, k, block, result);
            if (before > 0 && result[before - 1].Name.AsSpan().SequenceCompareTo(result[before].Name) >= 0)
                throw Corrupt(path, "directory entries out of order");
        }
        return result;
    }

    /// <summary>Parses directory block k (names strictly increasing within it) and appends its dirents.</summary>
    void ReadDirBlock(InodeInfo dir, string path, long k, byte[] block, List<Dirent> into)
    {
        long size = (long)dir.Inode.Size;
        long start = k << _bits;
        int len = (int)Math.Min(_bs, size - start);
        if (ReadData(dir, path, start, block.AsSpan(0, len)) != len) throw Corrupt(path, "directory truncated");
        var b = block.AsSpan(0, len);
        if (len < ErofsDirent.Size) throw Corrupt(path, "directory block too small");
        int first = ErofsDirent.Read(b).NameOffset;
        if (first < ErofsDirent.Size || first >= len || first % ErofsDirent.Size != 0)
            throw Corrupt(path, $"bad directory block (first name offset {first})");
        int count = first / ErofsDirent.Size;
        byte[]? previous = null;
        for (int i = 0; i < count; i++)
        {
            var d = ErofsDirent.Read(b[(i * ErofsDirent.Size)..]);
            int nameOff = d.NameOffset;
            int nameEnd;
            if (i + 1 < count) nameEnd = ErofsDirent.Read(b[((i + 1) * ErofsDirent.Size)..]).NameOffset;
            else
            {
                int nul = b[Math.Min(nameOff, len)..].IndexOf((byte)0);
                nameEnd = nul < 0 ? len : nameOff + nul;
            }
            if (nameOff < first || nameEnd > len || nameEnd <= nameOff || nameEnd - nameOff > ErofsFormat.MaxNameLength)
                throw Corrupt(path, "bad directory entry name offsets");
            var name = b[nameOff..nameEnd].ToArray();
            if (name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0) throw Corrupt(path, "directory entry name contains '/' or NUL");
            if (previous != null && previous.AsSpan().SequenceCompareTo(name) >= 0)
                throw Corrupt(path, "directory entries out of order");
            previous = name;
            into.Add(new Dirent((long)d.Nid, name, d.FileType));
        }
    }

    /// <summary>The kernel's lookup: binary search over blocks by their first name, then within the block.</summary>
    long FindInDirectory(InodeInfo dir, string path, byte[] want)
    {
        long blocks = ((long)dir.Inode.Size + _bs - 1) >> _bits;
        var block = new byte[_bs];
        var entries = new List<Dirent>();
        long lo = 0, hi = blocks - 1, candidate = -1;
        while (lo <= hi)
        {
            long mid = lo + (hi - lo) / 2;
            entries.Clear();
            ReadDirBlock(dir, path, mid, block, entries);
            int c = entries[0].Name.AsSpan().SequenceCompareTo(want);
            if (c == 0) return entries[0].Nid;
            if (c < 0) { candidate = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        if (candidate < 0) return -1;
        entries.Clear();
        ReadDirBlock(dir, path, candidate, block, entries);
        foreach (var d in entries)
            if (d.Name.AsSpan().SequenceEqual(want)) return d.Nid;
        return -1;
    }

    static bool IsDotOrDotDot(byte[] n) => n is [(byte)'.'] or [(byte)'.', (byte)'.'];

    public IEnumerable<Entry> List(Entry directory) => Guard(directory.Path, () =>
    {
        if (directory.Type != EntryType.Directory) throw new ZarException($"{Description}: {ZarPath.Display(directory.Path)}: not a directory");
        using var lease = _image.Enter();
        var info = ReadInode(directory.Inode - 1, directory.Path);
        var list = new List<Entry>();
        foreach (var d in ReadDirents(info, directory.Path))
        {
            if (IsDotOrDotDot(d.Name)) continue;
            var child = MakeEntry(d.Nid, ZarPath.Join(directory.Path, ZarPath.Decode(d.Name)));
            if (d.FileType != 0 && d.FileType != ErofsDirent.FileTypeOf(child.Type))
                throw Corrupt(child.Path, "directory entry type differs from the inode's");
            list.Add(child);
        }
        return (IEnumerable<Entry>)list;
    });

    public Entry? Lookup(string path) => Guard(path, () =>
    {
        if (path.Length == 0) return _root;
        using var lease = _image.Enter();
        var current = _root;
        foreach (var part in path.Split('/'))
        {
            if (current.Type != EntryType.Directory) return null;
            var want = ZarPath.Encode(part);
            var info = ReadInode(current.Inode - 1, current.Path);
            if (part is "." or ".." || want.Length == 0 || want.Length > ErofsFormat.MaxNameLength) return null;
            long nid = FindInDirectory(info, current.Path, want);
            if (nid < 0) return null;
            current = MakeEntry(nid, ZarPath.Join(current.Path, part));
        }
        return current;
    });

    /// <summary>Walk with loop detection: a directory reached twice (a corrupt nid) is an error, not a hang.</summary>
    public IEnumerable<Entry> Walk()
    {
        var seen = new HashSet<long>();
        var stack = new Stack<Entry>();
        stack.Push(_root);
        while (stack.Count > 0)
        {
            var e = stack.Pop();
            yield return e;
            if (!e.IsDirectory) continue;
            if (!seen.Add(e.Inode)) throw Corrupt(e.Path, "directory loop (directory reached twice)");
            var children = List(e).ToList();
            for (int i = children.Count - 1; i >= 0; i--) stack.Push(children[i]);
        }
    }

    public FileSystemTotals GetTotals() =>
        new((long)Superblock.Inodes, _length, _bs);

    /// <summary>
    /// Defense in depth: the parsing code checks every number it uses, but any slip on a crafted
    /// image must still surface as a one-line format error rather than a runtime exception.
    /// </summary>
    T Guard<T>(string path, Func<T> body)
    {
        try { return body(); }
        catch (Exception e) when (IsParseSlip(e)) { throw Corrupt(path, $"corrupted EROFS metadata ({e.GetType().Name})"); }
    }

    static bool IsParseSlip(Exception e) =>
        e is IndexOutOfRangeException or ArgumentException or OverflowException or InvalidCastException or OutOfMemoryException;

    public void Dispose()
    {
        _image.Dispose();
        foreach (var d in _devices) (d as IDisposable)?.Dispose();
    }
}
