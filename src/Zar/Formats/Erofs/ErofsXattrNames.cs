using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// The predefined xattr name prefixes (spec §8.2): an entry stores a prefix index and the rest of the
/// name. Names without one of these prefixes cannot be stored.
/// </summary>
static class ErofsXattrNames
{
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
}
