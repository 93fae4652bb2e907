using System.Net;
using System.Text.RegularExpressions;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` (the `docker://` prefix is optional), with Docker's
/// conventions: a first component without `.`/`:`/uppercase and not `localhost` is a Docker Hub path.
/// </summary>
public sealed partial record RegistryReference(string Host, string Repository, string? Tag, string? Digest)
{
    public const string DockerHub = "docker.io";

    [GeneratedRegex("^[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryGrammar();

    [GeneratedRegex("^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex TagGrammar();

    [GeneratedRegex("^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$")]
    private static partial Regex HostGrammar();

    /// <summary>The tag or digest to ask the registry for: the digest wins over a tag.</summary>
    public string Reference => Digest ?? Tag ?? "latest";

    /// <summary>The host the API is served on (Docker Hub's API lives on registry-1.docker.io).</summary>
    public string ApiHost => Host == DockerHub ? "registry-1.docker.io" : Host;

    public RegistryReference WithDigest(string digest) => this with { Digest = digest };

    public override string ToString() =>
        $"docker://{Host}/{Repository}" + (Tag != null ? ":" + Tag : "") + (Digest != null ? "@" + Digest : "");

    public static bool TryParse(string text, out RegistryReference? reference)
    {
        try { reference = Parse(text); return true; }
        catch (ZarException) { reference = null; return false; }
    }

    public static RegistryReference Parse(string text)
    {
        string original = text;
        ZarException Bad(string why) => new($"invalid image reference '{original}': {why}");
        if (string.IsNullOrWhiteSpace(text)) throw Bad("empty");
        if (text.StartsWith("docker://", StringComparison.Ordinal)) text = text["docker://".Length..];
        else if (text.Contains("://")) throw Bad("only docker:// references name a registry image");
        if (text.Length == 0) throw Bad("no repository");

        string? digest = null;
        int at = text.IndexOf('@');
        if (at >= 0)
        {
            digest = text[(at + 1)..];
            text = text[..at];
            if (!Oci.Digest.IsValid(digest)) throw Bad($"bad digest '{digest}'");
        }

        string host;
        string rest;
        int slash = text.IndexOf('/');
        string first = slash < 0 ? text : text[..slash];
        if (slash >= 0 && (first == "localhost" || first.Contains('.') || first.Contains(':') || first.Any(char.IsUpper) || first.StartsWith('[')))
        {
            host = first;
            rest = text[(slash + 1)..];
            if (!HostGrammar().IsMatch(host)) throw Bad($"bad registry host '{host}'");
            if (host.StartsWith('[') && !IPAddress.TryParse(host[1..host.IndexOf(']')], out _)) throw Bad($"bad IPv6 address in '{host}'");
        }
        else
        {
            host = DockerHub;
            rest = text;
        }
        if (host is "index.docker.io" or "registry-1.docker.io") host = DockerHub;

        string? tag = null;
        int lastSlash = rest.LastIndexOf('/');
        int colon = rest.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagGrammar().IsMatch(tag)) throw Bad($"bad tag '{tag}'");
        }
        if (rest.Length == 0) throw Bad("no repository");
        if (!RepositoryGrammar().IsMatch(rest))
            throw Bad($"bad repository name '{rest}' (lowercase letters, digits and separators . _ __ - /)");
        if (host == DockerHub && !rest.Contains('/')) rest = "library/" + rest;
        if (host.Length + 1 + rest.Length > 255) throw Bad("name longer than 255 characters");
        if (tag is null && digest is null) tag = "latest";
        return new RegistryReference(host, rest, tag, digest);
    }

    /// <summary>
    /// Plain HTTP is used without asking only for loopback hosts (Docker's own default for 127.0.0.0/8).
    /// </summary>
    public static bool IsLoopbackHost(string host)
    {
        string name = StripPort(host);
        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (name.StartsWith('[') && name.EndsWith(']')) name = name[1..^1];
        return IPAddress.TryParse(name, out var ip) && IPAddress.IsLoopback(ip);
    }

    internal static string StripPort(string host)
    {
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            return close < 0 ? host : host[..(close + 1)];
        }
        int colon = host.LastIndexOf(':');
        return colon < 0 ? host : host[..colon];
    }
}
