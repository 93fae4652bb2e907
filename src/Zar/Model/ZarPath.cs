using System.Text;

namespace Zar.Model;

/// <summary>
/// Paths inside a filesystem image. Linux names are bytes, so strings here carry
/// bytes losslessly: valid UTF-8 decodes normally and every byte of an invalid
/// sequence becomes the lone surrogate U+DC00+byte ("surrogateescape", as Python does).
/// A normalized path has no leading or trailing '/', no empty, "." or ".." component;
/// the root directory is the empty string.
/// </summary>
public static class ZarPath
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        // Fast path: ASCII / valid UTF-8 that cannot contain escapes.
        if (System.Text.Unicode.Utf8.IsValid(bytes))
            return StrictUtf8.GetString(bytes);
        var sb = new StringBuilder(bytes.Length);
        int i = 0;
        while (i < bytes.Length)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes[i..], out var rune, out int consumed);
            if (status == System.Buffers.OperationStatus.Done && !(rune.Value >= 0xD800 && rune.Value <= 0xDFFF))
            {
                sb.Append(rune.ToString());
                i += consumed;
            }
            else
            {
                sb.Append((char)(0xDC00 + bytes[i]));
                i++;
            }
        }
        return sb.ToString();
    }

    public static byte[] Encode(string s)
    {
        if (!HasEscapes(s)) return StrictUtf8.GetBytes(s);
        var buf = new List<byte>(s.Length + 8);
        Span<byte> tmp = stackalloc byte[4];
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c >= 0xDC80 && c <= 0xDCFF && !(i > 0 && char.IsHighSurrogate(s[i - 1])))
            {
                buf.Add((byte)(c - 0xDC00));
                continue;
            }
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                var r = new Rune(c, s[i + 1]);
                int n = r.EncodeToUtf8(tmp);
                for (int k = 0; k < n; k++) buf.Add(tmp[k]);
                i++;
                continue;
            }
            var rune = Rune.IsValid(c) ? new Rune(c) : Rune.ReplacementChar;
            int m = rune.EncodeToUtf8(tmp);
            for (int k = 0; k < m; k++) buf.Add(tmp[k]);
        }
        return buf.ToArray();
    }

    /// <summary>Encodes into a caller buffer; returns bytes written, or -1 if it does not fit.</summary>
    public static int Encode(string s, Span<byte> destination)
    {
        if (!HasEscapes(s))
        {
            return StrictUtf8.TryGetBytes(s, destination, out int written) ? written : -1;
        }
        var bytes = Encode(s);
        if (bytes.Length > destination.Length) return -1;
        bytes.CopyTo(destination);
        return bytes.Length;
    }

    static bool HasEscapes(string s)
    {
        foreach (char c in s)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    /// <summary>Byte length of the encoded form.</summary>
    public static int ByteCount(string s) => HasEscapes(s) ? Encode(s).Length : StrictUtf8.GetByteCount(s);

    /// <summary>Printable form for messages and listings: escapes are shown as \xNN, control chars as \n, \t, \xNN.</summary>
    public static string Display(string s)
    {
        bool plain = true;
        foreach (char c in s) if (c < 0x20 || c == 0x7F || char.IsSurrogate(c) && c >= 0xDC80 && c <= 0xDCFF) { plain = false; break; }
        if (plain) return s;
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '\n') sb.Append("\\n");
            else if (c == '\t') sb.Append("\\t");
            else if (c < 0x20 || c == 0x7F) sb.Append($"\\x{(int)c:x2}");
            else if (c >= 0xDC80 && c <= 0xDCFF && !(i > 0 && char.IsHighSurrogate(s[i - 1]))) sb.Append($"\\x{c - 0xDC00:x2}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Normalizes a path found in an archive or typed by a user: strips leading '/' and "./",
    /// collapses "//" and ".", and resolves ".." lexically. Returns null when ".." would climb
    /// above the root, so callers decide whether that is an error (extraction) or clamped.
    /// </summary>
    public static string? Normalize(string path)
    {
        if (path.Length == 0 || path == "/" || path == ".") return "";
        // Fast path: already normal.
        if (IsNormal(path)) return path;
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0) return null;
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>Like <see cref="Normalize"/> but ".." at the root stays at the root (containerd's rule).</summary>
    public static string NormalizeClamped(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    public static bool IsNormal(string path)
    {
        if (path.Length == 0) return true;
        if (path[0] == '/' || path[^1] == '/') return false;
        int start = 0;
        while (start <= path.Length)
        {
            int slash = path.IndexOf('/', start);
            int end = slash < 0 ? path.Length : slash;
            int len = end - start;
            if (len == 0) return false;
            if (len == 1 && path[start] == '.') return false;
            if (len == 2 && path[start] == '.' && path[start + 1] == '.') return false;
            if (slash < 0) break;
            start = slash + 1;
        }
        return true;
    }

    /// <summary>One path component: not empty, not "." or "..", no '/' and no NUL.</summary>
    public static bool IsValidName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(['/', '\0']) < 0;

    public static string Parent(string path)
    {
        int i = path.LastIndexOf('/');
        return i < 0 ? "" : path[..i];
    }

    public static string Name(string path)
    {
        int i = path.LastIndexOf('/');
        return i < 0 ? path : path[(i + 1)..];
    }

    public static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    /// <summary>
    /// The order of every walk and of the zar entry table: component by component, each
    /// component compared as bytes. Equivalent to a byte compare where '/' sorts before every
    /// other byte, which is a depth-first pre-order with siblings in byte order.
    /// </summary>
    public static int CompareBytes(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int n = Math.Min(a.Length, b.Length);
        int common = a[..n].CommonPrefixLength(b[..n]);
        if (common == n) return a.Length.CompareTo(b.Length);
        byte x = a[common], y = b[common];
        if (x == (byte)'/') return -1;
        if (y == (byte)'/') return 1;
        return x.CompareTo(y);
    }

    /// <summary>Compares two names (single components) as bytes.</summary>
    public static int CompareNames(string a, string b)
    {
        if (!HasEscapes(a) && !HasEscapes(b) && IsAscii(a) && IsAscii(b)) return string.CompareOrdinal(a, b);
        return Encode(a).AsSpan().SequenceCompareTo(Encode(b));
    }

    /// <summary>Compares two normalized paths in walk order.</summary>
    public static int ComparePaths(string a, string b)
    {
        if (IsAscii(a) && IsAscii(b))
        {
            int n = Math.Min(a.Length, b.Length);
            for (int i = 0; i < n; i++)
            {
                char x = a[i], y = b[i];
                if (x == y) continue;
                if (x == '/') return -1;
                if (y == '/') return 1;
                return x < y ? -1 : 1;
            }
            return a.Length.CompareTo(b.Length);
        }
        return CompareBytes(Encode(a), Encode(b));
    }

    public static readonly IComparer<string> NameComparer = Comparer<string>.Create(CompareNames);
    public static readonly IComparer<string> PathComparer = Comparer<string>.Create(ComparePaths);

    static bool IsAscii(string s)
    {
        foreach (char c in s) if (c >= 0x80) return false;
        return true;
    }
}
