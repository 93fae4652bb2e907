using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Turns each inode's xattrs into stored entries and decides which ones live once in the shared xattr
/// area (referenced by a 4-byte id) rather than inline in every inode that carries them.
/// </summary>
static class ErofsSharedXattrs
{
    public static void Plan(ErofsPlan plan)
    {
        var nodes = plan.Nodes;
        var stored = new List<StoredXattr>[nodes.Count];
        var counts = new Dictionary<StoredXattr, int>();
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            var list = new List<StoredXattr>(n.Entry.Xattrs.Count);
            foreach (var x in n.Entry.Xattrs)
            {
                if (!ErofsXattrNames.TrySplit(x.Name, out byte index, out byte[] suffix))
                    throw new ZarNotSupportedException($"{plan.Where(n.Entry)}: xattr {ZarPath.Display(x.Name)} has no EROFS name prefix (user., trusted., security., system.posix_acl_*)");
                if (suffix.Length > 255 || x.Value.Length > 65535)
                    throw new ZarNotSupportedException($"{plan.Where(n.Entry)}: xattr {ZarPath.Display(x.Name)} is too large for EROFS");
                list.Add(new StoredXattr(index, suffix, x.Value, x.Name));
            }
            list.Sort(StoredXattr.Compare);
            stored[i] = list;
            if (plan.Options.ShareXattrs)
                foreach (var s in list) counts[s] = counts.GetValueOrDefault(s) + 1;
        }
        // Sharing costs one 4-byte id per inode plus one copy; inline costs a copy per inode.
        var shared = counts.Where(kv => kv.Value >= 2 && kv.Key.Size + 4L * kv.Value < (long)kv.Key.Size * kv.Value)
            .Select(kv => kv.Key).ToList();
        shared.Sort(StoredXattr.Compare);
        var ids = new Dictionary<StoredXattr, int>();
        int sharedBytes = 0;
        foreach (var s in shared) { ids[s] = sharedBytes / 4; sharedBytes += s.Size; }
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            if (stored[i].Count == 0) continue;
            int body = ErofsXattrBodyHeader.Size;
            foreach (var s in stored[i])
            {
                // h_shared_count is one byte.
                if (n.SharedXattrIds.Count < 255 && ids.TryGetValue(s, out int id)) { n.SharedXattrIds.Add(id); body += ErofsXattrBodyHeader.SharedIdSize; }
                else { n.InlineXattrs.Add(s); body += s.Size; }
            }
            if (ErofsXattrBodyHeader.CountFor(body) > ushort.MaxValue)
                throw new ZarNotSupportedException($"{plan.Where(n.Entry)}: xattrs too large for EROFS ({body} bytes)");
            n.XattrBodySize = body;
        }
        plan.SharedXattrs = shared;
        plan.SharedXattrBytes = sharedBytes;
    }

    /// <summary>An inode's xattr body: the header, the shared ids, then the inline entries.</summary>
    public static int WriteBody(ErofsNode n, Span<byte> b)
    {
        new ErofsXattrBodyHeader(0, (byte)n.SharedXattrIds.Count).Write(b);
        int off = ErofsXattrBodyHeader.Size;
        foreach (int id in n.SharedXattrIds)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b[off..], (uint)id);
            off += ErofsXattrBodyHeader.SharedIdSize;
        }
        foreach (var x in n.InlineXattrs) off += ErofsXattrEntry.Write(b[off..], x.Index, x.Suffix, x.Value);
        return off;
    }
}

/// <summary>An xattr in stored form: prefix index, suffix bytes, value. Ordered and compared by (name, value).</summary>
sealed class StoredXattr(byte index, byte[] suffix, byte[] value, string name) : IEquatable<StoredXattr>
{
    public byte Index { get; } = index;
    public byte[] Suffix { get; } = suffix;
    public byte[] Value { get; } = value;
    public string Name { get; } = name;
    public int Size => ErofsXattrEntry.SizeOf(Suffix.Length, Value.Length);

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
