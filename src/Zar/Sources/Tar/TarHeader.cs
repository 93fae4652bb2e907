namespace Zar.Sources.Tar;

/// <summary>Field layout and primitive decoders of one 512-byte tar header block (POSIX ustar, GNU, V7).</summary>
static class TarHeader
{
    public const int BlockSize = 512;

    public const int NameOffset = 0, NameLength = 100;
    public const int ModeOffset = 100, ModeLength = 8;
    public const int UidOffset = 108, UidLength = 8;
    public const int GidOffset = 116, GidLength = 8;
    public const int SizeOffset = 124, SizeLength = 12;
    public const int MtimeOffset = 136, MtimeLength = 12;
    public const int ChecksumOffset = 148, ChecksumLength = 8;
    public const int TypeOffset = 156;
    public const int LinkNameOffset = 157, LinkNameLength = 100;
    public const int MagicOffset = 257;
    public const int DevMajorOffset = 329, DevMinorOffset = 337, DevLength = 8;
    public const int PrefixOffset = 345, PrefixLength = 155;

    // Old GNU sparse layout inside the same block (magic "ustar ").
    public const int GnuSparseOffset = 386, GnuSparseInHeader = 4, GnuSparseEntryLength = 24;
    public const int GnuIsExtendedOffset = 482, GnuRealSizeOffset = 483, GnuRealSizeLength = 12;
    public const int GnuExtensionEntries = 21, GnuExtensionIsExtendedOffset = 504;

    public enum Magic { V7, Ustar, Gnu }

    public static Magic GetMagic(ReadOnlySpan<byte> block)
    {
        var m = block.Slice(MagicOffset, 6);
        if (m.SequenceEqual("ustar\0"u8)) return Magic.Ustar;
        if (m.SequenceEqual("ustar "u8)) return Magic.Gnu;
        return Magic.V7;
    }

    /// <summary>A NUL-terminated (or full-width) text field.</summary>
    public static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        return nul < 0 ? field : field[..nul];
    }

    public static bool IsZeroBlock(ReadOnlySpan<byte> block) => !block.ContainsAnyExcept((byte)0);

    /// <summary>Both the unsigned sum and the signed-char sum (historic Sun tar) are accepted.</summary>
    public static bool ChecksumMatches(ReadOnlySpan<byte> block)
    {
        if (!TryParseNumber(block.Slice(ChecksumOffset, ChecksumLength), out long stored)) return false;
        long unsignedSum = 8 * ' ', signedSum = 8 * ' ';
        for (int i = 0; i < BlockSize; i++)
        {
            if (i == ChecksumOffset) { i += ChecksumLength - 1; continue; }
            unsignedSum += block[i];
            signedSum += (sbyte)block[i];
        }
        return stored == unsignedSum || stored == signedSum;
    }

    /// <summary>
    /// Octal ASCII (leading spaces/NULs skipped, ended by space, NUL or the field end) or GNU base-256
    /// (first byte 0x80 positive, 0xFF negative, big-endian two's complement). An all-blank field is 0.
    /// </summary>
    public static bool TryParseNumber(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        if (field.IsEmpty) return true;
        if ((field[0] & 0x80) != 0) return TryParseBase256(field, out value);
        int i = 0;
        while (i < field.Length && (field[i] == (byte)' ' || field[i] == 0)) i++;
        long v = 0;
        int digits = 0;
        for (; i < field.Length; i++)
        {
            byte c = field[i];
            if (c >= (byte)'0' && c <= (byte)'7')
            {
                if (digits++ > 20 || v > (long.MaxValue >> 3)) return false;
                v = (v << 3) | (long)(c - '0');
            }
            else if (c == (byte)' ' || c == 0) break;
            else return false;
        }
        value = v;
        return true;
    }

    static bool TryParseBase256(ReadOnlySpan<byte> field, out long value)
    {
        value = 0;
        bool negative = (field[0] & 0x40) != 0;
        byte invert = negative ? (byte)0xFF : (byte)0;
        ulong x = 0;
        for (int i = 0; i < field.Length; i++)
        {
            byte c = (byte)(field[i] ^ invert);
            if (i == 0) c &= 0x7F;
            if ((x >> 56) != 0) return false;
            x = (x << 8) | c;
        }
        if ((x >> 63) != 0) return false;
        value = negative ? ~(long)x : (long)x;
        return true;
    }
}
