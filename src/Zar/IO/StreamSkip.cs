using Zar.Model;

namespace Zar.IO;

/// <summary>Forward-only stream helpers: skip ahead (seeking when the stream can), read until full.</summary>
public static class StreamSkip
{
    /// <summary>Advances <paramref name="count"/> bytes; a stream that ends first is a format error naming <paramref name="what"/>.</summary>
    public static void Forward(Stream s, long count, string what)
    {
        if (count <= 0) return;
        if (s.CanSeek) { s.Position += count; return; }
        var buf = new byte[(int)Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n = s.Read(buf, 0, (int)Math.Min(buf.Length, count));
            if (n <= 0) throw new ZarFormatException($"{what}: ends before the data of an entry");
            count -= n;
        }
    }

    /// <summary>Reads until <paramref name="destination"/> is full or the stream ends; returns the count.</summary>
    public static int ReadFull(Stream s, Span<byte> destination)
    {
        int total = 0;
        while (total < destination.Length)
        {
            int n = s.Read(destination[total..]);
            if (n <= 0) break;
            total += n;
        }
        return total;
    }
}
