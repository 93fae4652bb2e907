using System.Buffers.Binary;
using System.Text;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Xattr entries: <c>u8 name_len, u8 name_index, le16 value_size, name suffix, value</c>, padded to 4 bytes.
/// Names are stored as a predefined prefix index plus the suffix.
/// </summary>
static class ErofsXattrs
{
    public const int HeaderSize = 12;
    public const int EntryHeaderSize = 4;

    // Whole names first: the ACL names are stored with an empty suffix.
    static readonly (byte Index, string Prefix, bool WholeName)[] Prefixes =
    [
        (2, "system.posix_acl_access", true),
        (3, "system.posix_acl_default", true),
        (1, "user.", false),
        (4, "trusted.", false),
        (6, "security.", false),
        (5, "lustre.", false),
    ];

    /// <summary>Splits a name into its prefix index and suffix bytes; false when EROFS cannot store it.</summary>
    public static bool TrySplit(string name, out byte index, out byte[] suffix)
    {
        foreach (var (i, prefix, whole) in Prefixes)
        {
            if (whole ? name == prefix : name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length)
            {
                index = i;
                suffix = whole ? [] : ZarPath.Encode(name[prefix.Length..]);
                return true;
            }
        }
        index = 0;
        suffix = [];
        return false;
    }

    public static string? Join(byte index, ReadOnlySpan<byte> suffix)
    {
        foreach (var (i, prefix, whole) in Prefixes)
        {
            if (i != index) continue;
            if (whole) return suffix.Length == 0 ? prefix : null;
            return suffix.Length == 0 ? null : prefix + ZarPath.Decode(suffix);
        }
        return null;
    }

    public static int EntrySize(int suffixLength, int valueLength) => (EntryHeaderSize + suffixLength + valueLength + 3) & ~3;

    /// <summary>Writes one padded entry; returns its size.</summary>
    public static int WriteEntry(Span<byte> b, byte index, ReadOnlySpan<byte> suffix, ReadOnlySpan<byte> value)
    {
        int size = EntrySize(suffix.Length, value.Length);
        b[..size].Clear();
        b[0] = (byte)suffix.Length;
        b[1] = index;
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], (ushort)value.Length);
        suffix.CopyTo(b[4..]);
        value.CopyTo(b[(4 + suffix.Length)..]);
        return size;
    }
}

/// <summary>An xattr in stored form: prefix index, suffix bytes, value. Ordered and compared by (name, value).</summary>
sealed class StoredXattr(byte index, byte[] suffix, byte[] value, string name) : IEquatable<StoredXattr>
{
    public byte Index { get; } = index;
    public byte[] Suffix { get; } = suffix;
    public byte[] Value { get; } = value;
    public string Name { get; } = name;
    public int Size => ErofsXattrs.EntrySize(Suffix.Length, Value.Length);

    public bool Equals(StoredXattr? o) => o != null && Index == o.Index && Suffix.AsSpan().SequenceEqual(o.Suffix) && Value.AsSpan().SequenceEqual(o.Value);
    public override bool Equals(object? obj) => Equals(obj as StoredXattr);
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Index);
        h.AddBytes(Suffix);
        h.Add(-1);
        h.AddBytes(Value);
        return h.ToHashCode();
    }

    public static int Compare(StoredXattr a, StoredXattr b)
    {
        int c = ZarPath.CompareNames(a.Name, b.Name);
        return c != 0 ? c : a.Value.AsSpan().SequenceCompareTo(b.Value);
    }
}
