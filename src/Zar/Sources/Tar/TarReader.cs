using Zar.IO;
using System.Text;
using Zar.Model;

namespace Zar.Sources.Tar;

/// <summary>
/// Forward-only reader of an uncompressed tar stream: POSIX ustar and PAX (x/g), GNU (L/K long names, old 'S'
/// sparse, base-256 numbers), PAX sparse 0.0/0.1/1.0 and V7. Names are never trusted: <see cref="TarEntry.Escapes"/>
/// flags ".." climbing above the root and Entry.Path is clamped.
/// <para>Type flags without meaning for a filesystem tree ('V' volume label, 'M' multi-volume continuation,
/// 'N' old long names, and any unknown flag) are skipped together with their data; GNU dumpdir 'D' is a directory
/// whose data is skipped. Global PAX headers apply to all later entries except for the per-file keys
/// path, linkpath, size and GNU.sparse.*.</para>
/// Every malformed or truncated input ends in a one-line <see cref="ZarFormatException"/> that names
/// the description, the entry when known and the byte offset.
/// <para>The reader buffers up to 128 KiB ahead of <see cref="Position"/> and stops at the end-of-archive marker, so
/// GNU tar's record padding after it stays unread: a caller hashing the stream (DiffID) drains it to the end itself.</para>
/// </summary>
public sealed partial class TarReader : IDisposable
{
    const int Block = TarHeader.BlockSize;
    /// <summary>PAX headers and GNU long names are read into memory; anything larger is hostile, not a name.</summary>
    public const int MaxMetadataSize = 1 << 20;
    /// <summary>Bounds the memory a sparse map can make us allocate (16 bytes per extent).</summary>
    public const int MaxSparseExtents = 1 << 20;

    internal static readonly IReadOnlyDictionary<string, string> NoRecords = new Dictionary<string, string>();

    readonly Stream _stream;
    readonly string _description;
    readonly bool _leaveOpen;
    readonly byte[] _buffer = new byte[128 * 1024];
    int _bufferStart, _bufferEnd;
    long _position;
    readonly byte[] _header = new byte[Block];
    byte[] _meta = new byte[4096];

    Dictionary<string, string>? _global;
    bool _end;
    bool _disposed;

    TarEntry? _current;
    long _dataRemaining;
    long _paddingRemaining;
    int _generation;

    public TarReader(Stream uncompressedTar, string description, bool leaveOpen = false)
    {
        _stream = uncompressedTar ?? throw new ArgumentNullException(nameof(uncompressedTar));
        _description = description;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Opens a layer file of any supported compression (recognised by content, not by name).</summary>
    public static TarReader OpenFile(string path, out LayerCompression compression)
    {
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ZarNotFoundException($"{path}: no such file");
        }
        catch (UnauthorizedAccessException) { throw new ZarException($"{path}: permission denied"); }
        try
        {
            var tar = LayerStream.Open(file, out compression);
            return new TarReader(tar, path) { RequireEndMarker = compression == LayerCompression.Gzip };
        }
        catch { file.Dispose(); throw; }
    }

    /// <summary>
    /// Treat a stream that ends without the end-of-archive marker as truncated. Set for gzip layers:
    /// .NET's gzip decoder ends quietly when its input is cut, so a layer cut between two entries would
    /// otherwise read as a shorter, valid one. Every tar writer in use writes the marker.
    /// </summary>
    public bool RequireEndMarker { get; init; }

    /// <summary>Bytes consumed from the uncompressed stream (the reader buffers ahead of this internally).</summary>
    public long Position => _position;

    public TarEntry? Current => _current;

    /// <summary>The next entry, or null at the end marker or at a clean end of stream on a header boundary.
    /// Unread data of the previous entry is skipped.</summary>
    public TarEntry? Next()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_end) return null;
        if (_current != null)
        {
            SkipData(_dataRemaining + _paddingRemaining, _current, _current.DataOffset);
            _dataRemaining = _paddingRemaining = 0;
            _current = null;
            _generation++;
        }

        long headerOffset = _position;
        var pending = new PendingHeaders();
        while (true)
        {
            long blockOffset = _position;
            if (!ReadBlock(_header, blockOffset))
            {
                if (pending.Any) throw Fail(blockOffset, null, "unexpected end of archive after an extended header");
                if (RequireEndMarker) throw Fail(blockOffset, null, "the compressed stream ends without the tar end-of-archive marker (truncated)");
                _end = true;
                return null;
            }
            if (TarHeader.IsZeroBlock(_header))
            {
                if (pending.Any) throw Fail(blockOffset, null, "end-of-archive marker right after an extended header");
                // The marker is two zero blocks; consume the second when present so Position covers it.
                if (TryPeekIsZeroBlock()) Consume(Block);
                _end = true;
                return null;
            }
            if (!TarHeader.ChecksumMatches(_header))
                throw Fail(blockOffset, null, "bad header checksum (not a tar archive, or corrupted)");

            byte type = _header[TarHeader.TypeOffset];
            long size = ParseNumber(TarHeader.SizeOffset, TarHeader.SizeLength, blockOffset, null, "size");
            if (size < 0) throw Fail(blockOffset, null, $"negative size {size}");
            if (type is (byte)'x' or (byte)'L' or (byte)'K')
            {
                // Many prefix headers before one entry must not add up to unbounded memory either.
                pending.MetadataBytes += size;
                if (size <= MaxMetadataSize && pending.MetadataBytes > MaxMetadataSize)
                    throw Fail(blockOffset, null, $"extended headers of one entry exceed the limit of {MaxMetadataSize} bytes");
            }
            switch (type)
            {
                case (byte)'x':
                    ParsePax(ReadMetadata(size, blockOffset, "PAX header"), pending.Local ??= new Dictionary<string, string>(), ref pending.Sparse00, blockOffset);
                    pending.Any = true;
                    continue;
                case (byte)'g':
                {
                    var records = new Dictionary<string, string>();
                    List<long>? ignored = null;
                    ParsePax(ReadMetadata(size, blockOffset, "PAX global header"), records, ref ignored, blockOffset);
                    var merged = _global == null ? new Dictionary<string, string>() : new Dictionary<string, string>(_global);
                    foreach (var (k, v) in records)
                    {
                        if (v.Length == 0 && !IsXattrKey(k)) merged.Remove(k);
                        else merged[k] = v;
                    }
                    long globalBytes = 0;
                    foreach (var (k, v) in merged) globalBytes += k.Length + v.Length;
                    if (globalBytes > MaxMetadataSize)
                        throw Fail(blockOffset, null, $"global PAX records exceed the limit of {MaxMetadataSize} bytes");
                    _global = merged.Count == 0 ? null : merged;
                    continue;
                }
                case (byte)'L':
                    pending.LongName = ZarPath.Decode(TarHeader.CString(ReadMetadata(size, blockOffset, "GNU long name")));
                    pending.Any = true;
                    continue;
                case (byte)'K':
                    pending.LongLink = ZarPath.Decode(TarHeader.CString(ReadMetadata(size, blockOffset, "GNU long link name")));
                    pending.Any = true;
                    continue;
            }

            var entry = BuildEntry(type, size, headerOffset, blockOffset, ref pending);
            if (entry == null)
            {
                // A member with no meaning for a tree: forget its prefix headers and move on.
                pending = new PendingHeaders();
                headerOffset = _position;
                continue;
            }
            _current = entry;
            return entry;
        }
    }

    /// <summary>The current entry's stored bytes (for sparse entries the fragments in Extents order); valid until Next().</summary>
    public Stream OpenData()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_current == null) throw new InvalidOperationException("no current entry");
        return new TarEntryDataStream(this, _generation);
    }

    struct PendingHeaders
    {
        public bool Any;
        public long MetadataBytes;
        public Dictionary<string, string>? Local;
        public List<long>? Sparse00;
        public string? LongName, LongLink;
    }

    TarEntry? BuildEntry(byte type, long headerSize, long headerOffset, long blockOffset, ref PendingHeaders pending)
    {
        var magic = TarHeader.GetMagic(_header);
        var records = EffectiveRecords(pending.Local);

        string rawName = Get(records, "path") ?? pending.LongName ?? HeaderName(magic);
        if (Get(records, "GNU.sparse.name") is { Length: > 0 } sparseName) rawName = sparseName;
        string? rawLink = Get(records, "linkpath") ?? pending.LongLink;
        if (rawLink == null)
        {
            var field = TarHeader.CString(_header.AsSpan(TarHeader.LinkNameOffset, TarHeader.LinkNameLength));
            rawLink = field.IsEmpty ? null : ZarPath.Decode(field);
        }

        long size = headerSize;
        if (Get(records, "size") is { } paxSize) size = ParsePaxDecimal(paxSize, "size", blockOffset, rawName);

        EntryType entryType;
        bool hasData = false;
        switch (type)
        {
            case (byte)'0' or 0 or (byte)'7':
                // BSD/V7 convention, honoured by GNU tar: a regular entry named "x/" is a directory.
                entryType = rawName.EndsWith('/') ? EntryType.Directory : EntryType.Regular;
                hasData = entryType == EntryType.Regular;
                break;
            case (byte)'S': entryType = EntryType.Regular; hasData = true; break;
            case (byte)'1': entryType = EntryType.Hardlink; break;
            case (byte)'2': entryType = EntryType.Symlink; break;
            case (byte)'3': entryType = EntryType.CharDevice; break;
            case (byte)'4': entryType = EntryType.BlockDevice; break;
            case (byte)'5': entryType = EntryType.Directory; break;
            case (byte)'6': entryType = EntryType.Fifo; break;
            case (byte)'D': entryType = EntryType.Directory; hasData = true; break;
            default:
                SkipData(RoundUp(size, blockOffset, rawName), null, blockOffset, rawName);
                return null;
        }

        // Header-only types own no data area whatever their size field says (as Go's archive/tar and the spec).
        long dataArea = hasData ? size : 0;
        if (!hasData) size = 0;

        uint mode = (uint)(ParseNumber(TarHeader.ModeOffset, TarHeader.ModeLength, blockOffset, rawName, "mode") & 0xFFF);
        uint uid = ToId(Get(records, "uid") is { } u ? ParsePaxDecimal(u, "uid", blockOffset, rawName)
            : ParseNumber(TarHeader.UidOffset, TarHeader.UidLength, blockOffset, rawName, "uid"), "uid", blockOffset, rawName);
        uint gid = ToId(Get(records, "gid") is { } g ? ParsePaxDecimal(g, "gid", blockOffset, rawName)
            : ParseNumber(TarHeader.GidOffset, TarHeader.GidLength, blockOffset, rawName, "gid"), "gid", blockOffset, rawName);
        long mtime;
        uint mtimeNs = 0;
        if (Get(records, "mtime") is { } pm)
        {
            if (!TryParsePaxTime(pm, out mtime, out mtimeNs)) throw Fail(blockOffset, rawName, $"bad PAX mtime '{ZarPath.Display(pm)}'");
        }
        else mtime = ParseNumber(TarHeader.MtimeOffset, TarHeader.MtimeLength, blockOffset, rawName, "mtime");

        uint devMajor = 0, devMinor = 0;
        if (entryType is EntryType.CharDevice or EntryType.BlockDevice && magic != TarHeader.Magic.V7)
        {
            devMajor = ToId(ParseNumber(TarHeader.DevMajorOffset, TarHeader.DevLength, blockOffset, rawName, "devmajor"), "devmajor", blockOffset, rawName);
            devMinor = ToId(ParseNumber(TarHeader.DevMinorOffset, TarHeader.DevLength, blockOffset, rawName, "devminor"), "devminor", blockOffset, rawName);
        }

        // Sparse files: the data area holds only the listed fragments.
        List<DataExtent>? extents = null;
        long logicalSize = size;
        long mapBytes = 0;
        if (type == (byte)'S')
        {
            extents = ReadOldGnuSparseMap(blockOffset, rawName);
            logicalSize = ParseNumber(TarHeader.GnuRealSizeOffset, TarHeader.GnuRealSizeLength, blockOffset, rawName, "sparse real size");
        }
        else if (entryType == EntryType.Regular && IsPaxSparse(records, pending.Sparse00))
        {
            string? realSize = Get(records, "GNU.sparse.realsize") ?? Get(records, "GNU.sparse.size");
            if (realSize == null) throw Fail(blockOffset, rawName, "PAX sparse entry without GNU.sparse.realsize/size");
            logicalSize = ParsePaxDecimal(realSize, "GNU.sparse.realsize", blockOffset, rawName);
            if (Get(records, "GNU.sparse.major") == "1")
            {
                if (Get(records, "GNU.sparse.minor") is { } minor && minor != "0")
                    throw Fail(blockOffset, rawName, $"unknown GNU sparse format 1.{ZarPath.Display(minor)}");
                (extents, mapBytes) = ReadPaxSparseMap(dataArea, blockOffset, rawName);
            }
            else if (Get(records, "GNU.sparse.map") is { } map)
                extents = ParseSparseList(map.Split(','), blockOffset, rawName);
            else if (pending.Sparse00 != null)
                extents = PairsToExtents(pending.Sparse00, blockOffset, rawName);
            else throw Fail(blockOffset, rawName, "PAX sparse entry without a map");
        }
        long storedSize = dataArea - mapBytes;
        if (extents != null) ValidateExtents(extents, logicalSize, storedSize, blockOffset, rawName);

        // Normalize is the cheap check; only names that climb above the root need the clamped form.
        string? normalized = ZarPath.Normalize(rawName);
        bool escapes = normalized == null;
        string path = normalized ?? ZarPath.NormalizeClamped(rawName);
        string? linkTarget = null;
        if (entryType == EntryType.Symlink) linkTarget = rawLink ?? "";
        else if (entryType == EntryType.Hardlink)
        {
            if (rawLink == null) throw Fail(blockOffset, rawName, "hardlink without a target");
            var normalizedLink = ZarPath.Normalize(rawLink);
            escapes |= normalizedLink == null;
            linkTarget = normalizedLink ?? ZarPath.NormalizeClamped(rawLink);
        }

        long dataOffset = _position;
        long paddedEnd = RoundUp(dataArea, blockOffset, rawName);
        _dataRemaining = storedSize;
        _paddingRemaining = paddedEnd - dataArea;

        return new TarEntry
        {
            Entry = new Entry
            {
                Path = path,
                Type = entryType,
                Mode = mode,
                Uid = uid,
                Gid = gid,
                MtimeSeconds = mtime,
                MtimeNanoseconds = mtimeNs,
                Size = entryType == EntryType.Regular ? logicalSize : 0,
                LinkTarget = linkTarget,
                DevMajor = devMajor,
                DevMinor = devMinor,
                Xattrs = records.Count == 0 ? Array.Empty<Xattr>() : CollectXattrs(records, blockOffset, rawName),
                IsSparse = extents != null,
            },
            DataOffset = dataOffset,
            Extents = extents,
            RawName = rawName,
            RawLinkName = rawLink,
            Escapes = escapes,
            HeaderOffset = headerOffset,
            StoredSize = storedSize,
            PaxRecords = records,
        };
    }

    long ParseNumber(int offset, int length, long blockOffset, string? rawName, string what)
    {
        if (!TarHeader.TryParseNumber(_header.AsSpan(offset, length), out long v))
            throw Fail(blockOffset, rawName, $"bad {what} field");
        return v;
    }

    uint ToId(long v, string what, long blockOffset, string rawName)
    {
        if (v < 0 || v > uint.MaxValue) throw Fail(blockOffset, rawName, $"{what} {v} out of range");
        return (uint)v;
    }

    long RoundUp(long size, long blockOffset, string? rawName)
    {
        if (size > long.MaxValue - Block) throw Fail(blockOffset, rawName, $"size {size} too large");
        return (size + Block - 1) & ~(long)(Block - 1);
    }

    ZarFormatException Fail(long offset, string? rawName, string what, Exception? inner = null) =>
        new(rawName == null
            ? $"{_description}: at offset {offset}: {what}"
            : $"{_description}: entry '{ZarPath.Display(rawName)}' at offset {offset}: {what}", inner);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_leaveOpen) _stream.Dispose();
    }
}

/// <summary>The current entry's stored bytes, read through the reader's buffer.</summary>
sealed class TarEntryDataStream(TarReader reader, int generation) : ReadOnlyStream
{
    long _read;
    public override long Length => reader.DataLength(generation);
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override int Read(Span<byte> buffer)
    {
        int n = reader.ReadData(generation, buffer);
        _read += n;
        return n;
    }
}
