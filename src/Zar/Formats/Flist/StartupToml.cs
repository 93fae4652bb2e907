using System.Globalization;
using System.Text;
using Zar.Oci;

namespace Zar.Formats.Flist;

/// <summary>
/// <c>/.startup.toml</c>, the Zero-OS "core.system" entry docker2fl puts in an flist (spec §6): what to run
/// (<c>args.name</c> and <c>args.args</c>), in which directory, with which environment. rfs's docker2fl loses
/// the image's Cmd (it creates its container with Cmd [""]); this writes what the image config means:
/// entrypoint then cmd, else cmd, else /bin/sh. Laid out as the Rust toml crate writes it, so an image
/// whose config rfs does read right (alpine: PATH only, no entrypoint) gives the same bytes.
/// </summary>
public static class StartupToml
{
    public const string FileName = ".startup.toml";

    /// <summary>True when a config says anything to run or set (a bare layer or directory has no config to carry).</summary>
    public static bool HasContent(ImageConfig config) =>
        config.Entrypoint is { Count: > 0 } || config.Cmd is { Count: > 0 } || config.Env.Count > 0 || !string.IsNullOrEmpty(config.WorkingDir);

    public static byte[] From(ImageConfig config)
    {
        var entrypoint = config.Entrypoint ?? [];
        var cmd = config.Cmd ?? [];
        string name;
        IEnumerable<string> args;
        if (entrypoint.Count > 0) { name = entrypoint[0]; args = entrypoint.Skip(1).Concat(cmd); }
        else if (cmd.Count > 0) { name = cmd[0]; args = cmd.Skip(1); }
        else { name = "/bin/sh"; args = []; }
        var dir = string.IsNullOrEmpty(config.WorkingDir) ? "/" : config.WorkingDir;

        var sb = new StringBuilder();
        sb.Append("[startup.entry]\n");
        sb.Append("name = \"core.system\"\n\n");
        sb.Append("[startup.entry.args]\n");
        sb.Append("args = [").Append(string.Join(", ", args.Select(Quote))).Append("]\n");
        sb.Append("dir = ").Append(Quote(dir)).Append('\n');
        sb.Append("name = ").Append(Quote(name)).Append('\n');
        sb.Append("\n[startup.entry.args.env]\n");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var kv in config.Env)
        {
            int eq = kv.IndexOf('=');
            var key = eq < 0 ? kv : kv[..eq];
            var value = eq < 0 ? "" : kv[(eq + 1)..];
            if (key.Length == 0 || !seen.Add(key)) continue;
            sb.Append(Key(key)).Append(" = ").Append(Quote(value)).Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    static string Key(string k) => k.All(c => c is >= 'A' and <= 'Z' or >= 'a' and <= 'z' or >= '0' and <= '9' or '_' or '-') ? k : Quote(k);

    /// <summary>A TOML basic string.</summary>
    static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c == 0x7f) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
