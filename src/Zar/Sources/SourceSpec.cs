using Zar.Model;

namespace Zar.Sources;

/// <summary>
/// A user's spec of something to read, parsed: the transports skopeo spells (<c>docker-archive:PATH[:NAME:TAG|:@N]</c>,
/// <c>oci:DIR[:REF]</c>, <c>oci-archive:PATH[:REF]</c>, <c>docker://HOST/REPO[:TAG|@DIGEST]</c>), plus <c>dir:PATH</c>
/// (a plain directory tree, not skopeo's dir: format), <c>tar:PATH</c> (one layer tar, any compression),
/// <c>stack:...</c>, and transports from <see cref="OpenOptions.Transports"/>. Without a known transport an existing
/// path is recognised by its content (<see cref="FileSniffer"/>).
/// </summary>
public sealed record SourceSpec(SourceKind Kind, string Path, string? Reference = null)
{
    /// <summary>The transport's name for <see cref="SourceKind.Transport"/>.</summary>
    public string? Transport { get; init; }

    static readonly string[] BuiltIn = ["dir", "tar", "docker-archive", "oci", "oci-archive", "docker", "stack"];

    public static SourceSpec Parse(string text, OpenOptions? options = null)
    {
        if (string.IsNullOrEmpty(text)) throw new ZarException("empty image reference");
        int colon = text.IndexOf(':');
        var scheme = colon > 0 ? text[..colon] : "";
        var rest = colon > 0 ? text[(colon + 1)..] : text;
        if (options?.Transports?.ContainsKey(scheme) == true)
            return new SourceSpec(SourceKind.Transport, WithoutSlashes(rest)) { Transport = scheme };
        switch (scheme)
        {
            case "dir": return new SourceSpec(SourceKind.Directory, Required(rest, text));
            case "tar": return new SourceSpec(SourceKind.LayerTar, Required(rest, text));
            case "docker": return new SourceSpec(SourceKind.Registry, Required(WithoutSlashes(rest), text));
            case "stack": return new SourceSpec(SourceKind.Stack, Required(rest, text));
            case "docker-archive": return WithReference(SourceKind.DockerArchive, rest, text);
            case "oci": return WithReference(SourceKind.OciLayout, rest, text);
            case "oci-archive": return WithReference(SourceKind.OciArchive, rest, text);
        }
        if (File.Exists(text) || Directory.Exists(text)) return FromPath(text);
        if (scheme.Length > 0 && !scheme.Contains('/'))
        {
            var known = BuiltIn.Concat(options?.Transports?.Keys ?? []).Select(t => t + ":");
            throw new ZarException($"{text}: unknown transport '{scheme}' (known: {string.Join(", ", known)})");
        }
        throw new ZarNotFoundException($"{text}: no such file or directory");
    }

    /// <summary>What an existing path holds, by its bytes.</summary>
    public static SourceSpec FromPath(string path) => FileSniffer.Identify(path) switch
    {
        FileKind.Directory => new SourceSpec(SourceKind.Directory, path),
        FileKind.OciLayoutDirectory => new SourceSpec(SourceKind.OciLayout, path),
        FileKind.Zar => new SourceSpec(SourceKind.Zar, path),
        FileKind.Erofs => new SourceSpec(SourceKind.Erofs, path),
        FileKind.Sqlite => new SourceSpec(SourceKind.Flist, path),
        FileKind.Gzip or FileKind.Zstd => new SourceSpec(SourceKind.LayerTar, path),
        FileKind.Tar => new SourceSpec(SourceKind.Tar, path),
        FileKind.Missing => throw new ZarNotFoundException($"{path}: no such file or directory"),
        _ => throw new ZarFormatException($"{path}: not an image Zar can read (not a zar or EROFS image, a container image or layer, nor a directory)"),
    };

    // The path cannot hold ':' (skopeo has the same rule); what follows is the image in the file.
    static SourceSpec WithReference(SourceKind kind, string rest, string text)
    {
        int c = rest.IndexOf(':');
        var path = c < 0 ? rest : rest[..c];
        var reference = c < 0 || c == rest.Length - 1 ? null : rest[(c + 1)..];
        return new SourceSpec(kind, Required(path, text), reference);
    }

    static string WithoutSlashes(string rest) => rest.StartsWith("//", StringComparison.Ordinal) ? rest[2..] : rest;

    static string Required(string path, string text) =>
        path.Length > 0 ? path : throw new ZarException($"{text}: missing path");

    public override string ToString()
    {
        var scheme = Kind switch
        {
            SourceKind.Directory => "dir:",
            SourceKind.OciLayout => "oci:",
            SourceKind.OciArchive => "oci-archive:",
            SourceKind.DockerArchive => "docker-archive:",
            SourceKind.LayerTar => "tar:",
            SourceKind.Registry => "docker://",
            SourceKind.Stack => "stack:",
            SourceKind.Transport => Transport + "://",
            _ => "",
        };
        return scheme + Path + (Reference == null ? "" : ":" + Reference);
    }
}
