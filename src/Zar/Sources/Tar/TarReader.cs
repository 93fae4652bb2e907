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
public sealed class TarReader : IDisposable
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

    string HeaderName(TarHeader.Magic magic)
    {
        var name = TarHeader.CString(_header.AsSpan(TarHeader.NameOffset, TarHeader.NameLength));
        if (magic == TarHeader.Magic.Ustar)
        {
            // star puts atime/ctime after a 131-byte prefix and marks that with "tar\0" at the block's end.
            int prefixLength = _header.AsSpan(508, 4).SequenceEqual("tar\0"u8) ? 131 : TarHeader.PrefixLength;
            var prefix = TarHeader.CString(_header.AsSpan(TarHeader.PrefixOffset, prefixLength));
            if (!prefix.IsEmpty)
            {
                Span<byte> joined = stackalloc byte[TarHeader.PrefixLength + 1 + TarHeader.NameLength];
                prefix.CopyTo(joined);
                joined[prefix.Length] = (byte)'/';
                name.CopyTo(joined[(prefix.Length + 1)..]);
                return ZarPath.Decode(joined[..(prefix.Length + 1 + name.Length)]);
            }
        }
        return ZarPath.Decode(name);
    }

    IReadOnlyDictionary<string, string> EffectiveRecords(Dictionary<string, string>? local)
    {
        if (_global == null)
        {
            if (local == null) return NoRecords;
            // An empty local value means "unset" (POSIX), except for xattrs whose value may be empty.
            List<string>? unset = null;
            foreach (var (k, v) in local) if (v.Length == 0 && !IsXattrKey(k)) (unset ??= new()).Add(k);
            if (unset != null) foreach (var k in unset) local.Remove(k);
            return local;
        }
        var merged = new Dictionary<string, string>(_global.Count + (local?.Count ?? 0));
        foreach (var (k, v) in _global)
            if (!IsPerFileKey(k)) merged[k] = v;
        if (local != null)
            foreach (var (k, v) in local)
            {
                if (v.Length == 0 && !IsXattrKey(k)) merged.Remove(k);
                else merged[k] = v;
            }
        return merged;
    }

    static bool IsPerFileKey(string key) => key is "path" or "linkpath" or "size" || key.StartsWith("GNU.sparse.", StringComparison.Ordinal);

    static bool IsXattrKey(string key) =>
        key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal) || key.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal);

    static string? Get(IReadOnlyDictionary<string, string> records, string key) =>
        records.Count != 0 && records.TryGetValue(key, out var v) ? v : null;

    static bool IsPaxSparse(IReadOnlyDictionary<string, string> records, List<long>? sparse00) =>
        sparse00 != null || records.ContainsKey("GNU.sparse.major") || records.ContainsKey("GNU.sparse.map")
        || records.ContainsKey("GNU.sparse.realsize") || records.ContainsKey("GNU.sparse.size");

    IReadOnlyList<Xattr> CollectXattrs(IReadOnlyDictionary<string, string> records, long blockOffset, string rawName)
    {
        List<Xattr>? list = null;
        foreach (var (k, v) in records)
        {
            if (k.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                var name = k["SCHILY.xattr.".Length..];
                if (name.Length == 0) throw Fail(blockOffset, rawName, "empty xattr name");
                list ??= new();
                list.RemoveAll(x => x.Name == name);
                list.Add(new Xattr(name, ZarPath.Encode(v)));
            }
            else if (k.StartsWith("LIBARCHIVE.xattr.", StringComparison.Ordinal))
            {
                var name = UrlDecode(k["LIBARCHIVE.xattr.".Length..], blockOffset, rawName);
                // libarchive writes the same xattr as SCHILY too; the SCHILY form is the raw bytes, keep it.
                if (records.ContainsKey("SCHILY.xattr." + name)) continue;
                byte[] value;
                try { value = Convert.FromBase64String(PadBase64(v)); }
                catch (FormatException) { throw Fail(blockOffset, rawName, $"bad base64 in LIBARCHIVE.xattr.{ZarPath.Display(name)}"); }
                list ??= new();
                list.RemoveAll(x => x.Name == name);
                list.Add(new Xattr(name, value));
            }
        }
        if (list == null) return Array.Empty<Xattr>();
        list.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
        return list;
    }

    static string PadBase64(string s) => (s.Length % 4) switch { 2 => s + "==", 3 => s + "=", _ => s };

    string UrlDecode(string s, long blockOffset, string rawName)
    {
        if (!s.Contains('%')) return s;
        var bytes = ZarPath.Encode(s);
        var outBytes = new byte[bytes.Length];
        int n = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'%')
            {
                if (i + 2 >= bytes.Length)
                    throw Fail(blockOffset, rawName, $"bad %-escape in xattr name '{ZarPath.Display(s)}'");
                int hi = HexValue(bytes[i + 1]), lo = HexValue(bytes[i + 2]);
                if (hi < 0 || lo < 0) throw Fail(blockOffset, rawName, $"bad %-escape in xattr name '{ZarPath.Display(s)}'");
                outBytes[n++] = (byte)(hi << 4 | lo);
                i += 2;
            }
            else outBytes[n++] = bytes[i];
        }
        return ZarPath.Decode(outBytes.AsSpan(0, n));
    }

    static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    // ---- PAX ----

    /// <summary>Records "len key=value\n"; GNU.sparse.offset/numbytes (format 0.0) repeat, so they are kept in order.</summary>
    void ParsePax(ReadOnlySpan<byte> data, Dictionary<string, string> records, ref List<long>? sparse00, long blockOffset)
    {
        while (!data.IsEmpty)
        {
            if (!data.ContainsAnyExcept((byte)0)) break; // some writers pad the record area with NULs
            int space = data.IndexOf((byte)' ');
            if (space <= 0 || space > 10) throw Fail(blockOffset, null, "malformed PAX record (no length)");
            long len = 0;
            foreach (byte c in data[..space])
            {
                if (c < (byte)'0' || c > (byte)'9') throw Fail(blockOffset, null, "malformed PAX record length");
                len = len * 10 + (c - '0');
            }
            if (len <= space + 1 || len > data.Length) throw Fail(blockOffset, null, $"PAX record length {len} out of range");
            var record = data[(space + 1)..(int)len];
            data = data[(int)len..];
            if (record[^1] != (byte)'\n') throw Fail(blockOffset, null, "PAX record not terminated by a newline");
            record = record[..^1];
            int eq = record.IndexOf((byte)'=');
            if (eq <= 0) throw Fail(blockOffset, null, "malformed PAX record (no key)");
            string key = ZarPath.Decode(record[..eq]);
            var value = record[(eq + 1)..];
            if (key is "GNU.sparse.offset" or "GNU.sparse.numbytes")
            {
                sparse00 ??= new List<long>();
                if (sparse00.Count >= 2 * MaxSparseExtents) throw Fail(blockOffset, null, "sparse map too large");
                // Offsets and sizes alternate; a numbytes without its offset would shift every pair.
                bool isOffset = key == "GNU.sparse.offset";
                if (isOffset != (sparse00.Count % 2 == 0)) throw Fail(blockOffset, null, "GNU.sparse.offset/numbytes records out of order");
                sparse00.Add(ParsePaxDecimal(Encoding.ASCII.GetString(value), key, blockOffset, null));
                continue;
            }
            records[key] = ZarPath.Decode(value);
        }
    }

    long ParsePaxDecimal(string s, string what, long blockOffset, string? rawName)
    {
        if (s.Length == 0 || s.Length > 19 || !long.TryParse(s, System.Globalization.NumberStyles.None, null, out long v))
            throw Fail(blockOffset, rawName, $"bad {what} '{ZarPath.Display(s)}'");
        return v;
    }

    /// <summary>"[-]seconds[.fraction]"; negative times count the fraction away from zero, as GNU tar writes them.</summary>
    internal static bool TryParsePaxTime(string s, out long seconds, out uint nanoseconds)
    {
        seconds = 0;
        nanoseconds = 0;
        bool negative = s.StartsWith('-');
        var body = negative ? s.AsSpan(1) : s.AsSpan();
        int dot = body.IndexOf('.');
        var whole = dot < 0 ? body : body[..dot];
        var frac = dot < 0 ? ReadOnlySpan<char>.Empty : body[(dot + 1)..];
        if (whole.IsEmpty || whole.Length > 18) return false;
        foreach (char c in whole) if (c is < '0' or > '9') return false;
        foreach (char c in frac) if (c is < '0' or > '9') return false;
        long w = long.Parse(whole);
        long ns = 0;
        for (int i = 0; i < 9; i++) ns = ns * 10 + (i < frac.Length ? frac[i] - '0' : 0);
        if (!negative) { seconds = w; nanoseconds = (uint)ns; }
        else if (ns == 0) seconds = -w;
        else { seconds = -w - 1; nanoseconds = (uint)(1_000_000_000 - ns); }
        return true;
    }

    // ---- sparse maps ----

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

    // ---- numbers and ids ----

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

    // ---- I/O ----

    ReadOnlySpan<byte> ReadMetadata(long size, long blockOffset, string what)
    {
        if (size > MaxMetadataSize) throw Fail(blockOffset, null, $"{what} of {size} bytes exceeds the limit of {MaxMetadataSize} bytes");
        int padded = (int)RoundUp(size, blockOffset, null);
        if (_meta.Length < padded) _meta = new byte[Math.Max(padded, _meta.Length * 2)];
        int got = ReadFully(_meta.AsSpan(0, padded));
        if (got < padded) throw Fail(blockOffset, null, $"truncated {what} (expected {size} bytes)");
        return _meta.AsSpan(0, (int)size);
    }

    /// <summary>Reads one block; false on a clean end of stream before its first byte.</summary>
    bool ReadBlock(Span<byte> block, long blockOffset)
    {
        int got = ReadFully(block);
        if (got == 0) return false;
        if (got < Block) throw Fail(blockOffset, null, $"truncated header (stream ends {got} bytes into a 512-byte block)");
        return true;
    }

    bool TryPeekIsZeroBlock()
    {
        if (_bufferEnd - _bufferStart < Block)
        {
            Compact();
            while (_bufferEnd - _bufferStart < Block)
            {
                int n = ReadInner(_buffer.AsSpan(_bufferEnd));
                if (n <= 0) return false;
                _bufferEnd += n;
            }
        }
        return TarHeader.IsZeroBlock(_buffer.AsSpan(_bufferStart, Block));
    }

    void Compact()
    {
        if (_bufferStart == 0) return;
        int live = _bufferEnd - _bufferStart;
        _buffer.AsSpan(_bufferStart, live).CopyTo(_buffer);
        _bufferStart = 0;
        _bufferEnd = live;
    }

    void Consume(int n)
    {
        _bufferStart += n;
        _position += n;
    }

    int ReadFully(Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = ReadSome(destination[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }

    int ReadSome(Span<byte> destination)
    {
        int buffered = _bufferEnd - _bufferStart;
        if (buffered == 0)
        {
            // Large reads bypass the buffer: file data is copied once.
            if (destination.Length >= _buffer.Length)
            {
                int direct = ReadInner(destination);
                _position += direct;
                return direct;
            }
            _bufferStart = 0;
            _bufferEnd = ReadInner(_buffer);
            buffered = _bufferEnd;
            if (buffered == 0) return 0;
        }
        int n = Math.Min(buffered, destination.Length);
        _buffer.AsSpan(_bufferStart, n).CopyTo(destination);
        Consume(n);
        return n;
    }

    int ReadInner(Span<byte> destination)
    {
        try { return _stream.Read(destination); }
        catch (InvalidDataException ex) { throw Fail(_position, null, ex.Message, ex); }
        catch (EndOfStreamException ex) { throw Fail(_position, null, "truncated compressed data", ex); }
    }

    /// <summary>Skips n bytes of data/padding; with a seekable stream, by seeking.</summary>
    void SkipData(long n, TarEntry? entry, long dataOffset, string? rawName = null)
    {
        long buffered = _bufferEnd - _bufferStart;
        long fromBuffer = Math.Min(buffered, n);
        Consume((int)fromBuffer);
        n -= fromBuffer;
        if (n == 0) return;
        if (_stream.CanSeek)
        {
            long here, length;
            try { here = _stream.Position; length = _stream.Length; }
            catch (NotSupportedException) { here = length = -1; }
            if (here >= 0)
            {
                if (here + n > length)
                    throw TruncatedData(entry, rawName, dataOffset, here + n - length);
                _stream.Seek(n, SeekOrigin.Current);
                _position += n;
                return;
            }
        }
        while (n > 0)
        {
            int chunk = ReadInner(_buffer.AsSpan(0, (int)Math.Min(n, _buffer.Length)));
            if (chunk <= 0) throw TruncatedData(entry, rawName, dataOffset, n);
            _position += chunk;
            n -= chunk;
        }
    }

    Exception TruncatedData(TarEntry? entry, string? rawName, long dataOffset, long missing) =>
        Fail(dataOffset, entry?.RawName ?? rawName,
            entry != null
                ? $"truncated data (expected {entry.StoredSize} bytes, stream ends {missing} bytes short)"
                : $"truncated data (stream ends {missing} bytes short)");

    internal int ReadData(int generation, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (generation != _generation || _current == null)
            throw new InvalidOperationException("the entry's data stream is no longer valid (TarReader.Next was called)");
        if (_dataRemaining <= 0 || destination.IsEmpty) return 0;
        var want = destination[..(int)Math.Min(destination.Length, _dataRemaining)];
        int n = ReadSome(want);
        if (n <= 0)
            throw Fail(_current.DataOffset, _current.RawName,
                $"truncated data (expected {_current.StoredSize} bytes, got {_current.StoredSize - _dataRemaining})");
        _dataRemaining -= n;
        return n;
    }

    internal long DataLength(int generation) => generation == _generation && _current != null ? _current.StoredSize : 0;

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
