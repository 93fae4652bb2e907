using System.Text;

namespace Zar.Fuse;

/// <summary>One line of /proc/self/mountinfo (proc(5)): the mount, where, of what type and with which options.</summary>
public sealed record MountInfo(int Id, int ParentId, int Major, int Minor, string Root, string MountPoint,
    string Options, string FsType, string Source, string SuperOptions)
{
    /// <summary>An option of the superblock ("lowerdir" of an overlay), or null.</summary>
    public string? SuperOption(string name)
    {
        foreach (var o in SplitOptions(SuperOptions))
        {
            if (o == name) return "";
            if (o.StartsWith(name + "=", StringComparison.Ordinal)) return o[(name.Length + 1)..];
        }
        return null;
    }

    /// <summary>Overlay options escape commas in paths with a backslash.</summary>
    static IEnumerable<string> SplitOptions(string options)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < options.Length; i++)
        {
            if (options[i] == '\\' && i + 1 < options.Length) { sb.Append(options[++i]); continue; }
            if (options[i] == ',') { yield return sb.ToString(); sb.Clear(); continue; }
            sb.Append(options[i]);
        }
        yield return sb.ToString();
    }
}

/// <summary>The mount table of this process's mount namespace.</summary>
public static class MountTable
{
    public static IReadOnlyList<MountInfo> Read()
    {
        var list = new List<MountInfo>();
        // Read as bytes: mount points need not be UTF-8 (ZarPath carries other bytes losslessly).
        var text = Model.ZarPath.Decode(File.ReadAllBytes("/proc/self/mountinfo"));
        foreach (var line in text.Split('\n'))
            if (Parse(line) is { } m) list.Add(m);
        return list;
    }

    /// <summary>The mount whose mount point is <paramref name="path"/> (the top one when several are stacked), or null.</summary>
    public static MountInfo? At(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) full = "/";
        MountInfo? found = null;
        foreach (var m in Read()) if (m.MountPoint == full) found = m;
        return found;
    }

    /// <summary>Parses "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".</summary>
    public static MountInfo? Parse(string line)
    {
        var f = line.Split(' ');
        int dash = Array.IndexOf(f, "-");
        if (f.Length < 10 || dash < 6 || dash + 3 >= f.Length) return null;
        var dev = f[2].Split(':');
        return new MountInfo(int.Parse(f[0]), int.Parse(f[1]), int.Parse(dev[0]), int.Parse(dev[1]),
            Unescape(f[3]), Unescape(f[4]), f[5], f[dash + 1], Unescape(f[dash + 2]), Unescape(f[dash + 3]));
    }

    /// <summary>The kernel writes space, tab, newline and backslash in paths as \040, \011, \012 and \134.</summary>
    static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>();
        var raw = Model.ZarPath.Encode(s);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\\' && i + 3 < raw.Length && IsOctal(raw[i + 1]) && IsOctal(raw[i + 2]) && IsOctal(raw[i + 3]))
            {
                bytes.Add((byte)(((raw[i + 1] - '0') << 6) | ((raw[i + 2] - '0') << 3) | (raw[i + 3] - '0')));
                i += 3;
            }
            else bytes.Add(raw[i]);
        }
        return Model.ZarPath.Decode(bytes.ToArray());
    }

    static bool IsOctal(byte b) => b >= '0' && b <= '7';
}
