using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Zar.Oci;

namespace Zar.Consumers.Cfs;

/// <summary>
/// The Dockerfile that rebuilds a CFS image with plain Docker: <c>FROM scratch</c>, one <c>ADD</c> per layer
/// image (a non-archive file is copied as is), then the source config's runtime settings. Lists are written in
/// exec (JSON) form, other values as Dockerfile words, double-quoted when they hold anything the Dockerfile
/// lexer would interpret (whitespace, quotes, <c>$</c>, backslash). Keys are sorted so the text is deterministic.
/// </summary>
public static class CfsDockerfile
{
    static readonly JsonSerializerOptions ExecJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The Dockerfile text; values a Dockerfile cannot hold (newlines) become comments and are reported in <paramref name="warnings"/>.</summary>
    public static string Build(IEnumerable<string> layerFiles, ImageConfig config, List<string>? warnings = null)
    {
        var sb = new StringBuilder();
        sb.Append("FROM scratch\n");
        foreach (var f in layerFiles) sb.Append("ADD ").Append(Word(f)).Append(" /\n");
        foreach (var env in config.Env)
        {
            int eq = env.IndexOf('=');
            var key = eq < 0 ? env : env[..eq];
            var value = eq < 0 ? "" : env[(eq + 1)..];
            if (!Expressible(key) || !Expressible(value) || key.Length == 0)
            {
                Skip(sb, warnings, $"ENV {Printable(key)}", "a newline or an empty name cannot be written in a Dockerfile; the OCI output keeps it");
                continue;
            }
            sb.Append("ENV ").Append(Word(key)).Append('=').Append(Quote(value)).Append('\n');
        }
        foreach (var (k, v) in config.Labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            if (!Expressible(k) || !Expressible(v) || k.Length == 0)
            {
                Skip(sb, warnings, $"LABEL {Printable(k)}", "a newline or an empty key cannot be written in a Dockerfile; the OCI output keeps it");
                continue;
            }
            sb.Append("LABEL ").Append(Quote(k)).Append('=').Append(Quote(v)).Append('\n');
        }
        if (config.ExposedPorts.Count > 0)
            sb.Append("EXPOSE ").Append(string.Join(' ', config.ExposedPorts.OrderBy(p => p, StringComparer.Ordinal).Select(Word))).Append('\n');
        if (config.Volumes.Count > 0)
            sb.Append("VOLUME ").Append(JsonSerializer.Serialize(config.Volumes.OrderBy(v => v, StringComparer.Ordinal).ToArray(), ExecJson)).Append('\n');
        Single(sb, warnings, "USER", config.User);
        Single(sb, warnings, "WORKDIR", config.WorkingDir);
        // From scratch there is nothing to reset, so ENTRYPOINT before CMD keeps both as they are.
        if (config.Entrypoint != null) sb.Append("ENTRYPOINT ").Append(JsonSerializer.Serialize(config.Entrypoint, ExecJson)).Append('\n');
        if (config.Cmd != null) sb.Append("CMD ").Append(JsonSerializer.Serialize(config.Cmd, ExecJson)).Append('\n');
        Single(sb, warnings, "STOPSIGNAL", config.StopSignal);
        return sb.ToString();
    }

    static void Single(StringBuilder sb, List<string>? warnings, string instruction, string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        if (!Expressible(value)) { Skip(sb, warnings, instruction, "a newline cannot be written in a Dockerfile; the OCI output keeps it"); return; }
        sb.Append(instruction).Append(' ').Append(Word(value)).Append('\n');
    }

    static void Skip(StringBuilder sb, List<string>? warnings, string what, string why)
    {
        sb.Append("# ").Append(what).Append(" left out: ").Append(why).Append('\n');
        warnings?.Add($"Dockerfile: {what} left out: {why}");
    }

    static bool Expressible(string s) => s.IndexOfAny(['\n', '\r']) < 0;

    static string Printable(string s) => s.Replace("\n", "\\n").Replace("\r", "\\r");

    /// <summary>A bare word when nothing in it is special to the Dockerfile lexer, else a double-quoted one.</summary>
    public static string Word(string s) =>
        s.Length > 0 && s.All(c => !char.IsWhiteSpace(c) && c is not ('"' or '\'' or '$' or '\\' or '#' or '=')) ? s : Quote(s);

    /// <summary>
    /// Double-quoted: inside double quotes the Dockerfile lexer treats <c>\</c> as an escape only before
    /// <c>"</c>, <c>$</c> and <c>\</c>, and expands <c>$</c>; escaping exactly those three keeps the value literal.
    /// </summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            if (c is '"' or '$' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}
