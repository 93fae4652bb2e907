using System.Globalization;
using System.Text;
using System.Text.Json;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>Text renderings of entries for ls-style output.</summary>
public static class Listing
{
    public static string ModeString(Entry e)
    {
        var sb = new StringBuilder(10);
        sb.Append(e.Type switch
        {
            EntryType.Directory => 'd', EntryType.Symlink => 'l', EntryType.CharDevice => 'c', EntryType.BlockDevice => 'b',
            EntryType.Fifo => 'p', EntryType.Socket => 's', _ => '-',
        });
        uint m = e.Mode;
        for (int shift = 6; shift >= 0; shift -= 3)
        {
            uint bits = (m >> shift) & 7;
            sb.Append((bits & 4) != 0 ? 'r' : '-');
            sb.Append((bits & 2) != 0 ? 'w' : '-');
            bool exec = (bits & 1) != 0;
            char special = shift switch { 6 => (m & 0x800) != 0 ? 's' : '\0', 3 => (m & 0x400) != 0 ? 's' : '\0', _ => (m & 0x200) != 0 ? 't' : '\0' };
            sb.Append(special == '\0' ? (exec ? 'x' : '-') : exec ? special : char.ToUpperInvariant(special));
        }
        return sb.ToString();
    }

    public static string MtimeString(Entry e)
    {
        var t = DateTimeOffset.UnixEpoch.AddSeconds(e.MtimeSeconds).AddTicks(e.MtimeNanoseconds / 100);
        return t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "." + e.MtimeNanoseconds.ToString("D9", CultureInfo.InvariantCulture);
    }

    public static string LongLine(Entry e, string name)
    {
        string size = e.Type is EntryType.CharDevice or EntryType.BlockDevice ? $"{e.DevMajor},{e.DevMinor}" : e.Size.ToString(CultureInfo.InvariantCulture);
        var line = $"{ModeString(e)} {e.LinkCount,3} {e.Uid,6} {e.Gid,6} {size,12} {MtimeString(e)} {ZarPath.Display(name)}";
        if (e.Type == EntryType.Symlink) line += " -> " + ZarPath.Display(e.LinkTarget ?? "");
        return line;
    }

    public static void WriteJson(Utf8JsonWriter w, Entry e)
    {
        w.WriteStartObject();
        WritePath(w, "path", e.Path);
        w.WriteString("type", e.Type.ToString().ToLowerInvariant());
        w.WriteString("mode", "0" + Convert.ToString(e.Mode, 8).PadLeft(3, '0'));
        w.WriteNumber("uid", e.Uid);
        w.WriteNumber("gid", e.Gid);
        w.WriteNumber("size", e.Size);
        w.WriteNumber("mtime", e.MtimeSeconds);
        w.WriteNumber("mtimeNanoseconds", e.MtimeNanoseconds);
        w.WriteNumber("inode", e.Inode);
        w.WriteNumber("links", e.LinkCount);
        if (e.Type == EntryType.Symlink) WritePath(w, "target", e.LinkTarget ?? "");
        if (e.Type is EntryType.CharDevice or EntryType.BlockDevice) { w.WriteNumber("devMajor", e.DevMajor); w.WriteNumber("devMinor", e.DevMinor); }
        if (e.IsSparse) w.WriteBoolean("sparse", true);
        if (e.Xattrs.Count > 0)
        {
            w.WriteStartObject("xattrs");
            foreach (var x in e.Xattrs) w.WriteBase64String(ZarPath.Display(x.Name), x.Value);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    /// <summary>Writes a name as a JSON string when it is valid UTF-8, plus its raw bytes in base64 when it is not.</summary>
    static void WritePath(Utf8JsonWriter w, string key, string value)
    {
        var bytes = ZarPath.Encode(value);
        if (System.Text.Unicode.Utf8.IsValid(bytes)) { w.WriteString(key, value); return; }
        w.WriteString(key, ZarPath.Display(value));
        w.WriteBase64String(key + "Base64", bytes);
    }
}
