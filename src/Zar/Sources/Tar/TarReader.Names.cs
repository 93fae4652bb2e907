using System.Text;
using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Tar;

/// <summary>Names, PAX records (local and global), xattrs and times of the entry being read.</summary>
public sealed partial class TarReader
{
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
}
