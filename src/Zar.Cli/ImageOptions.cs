using System.CommandLine;
using Zar.IO;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Layers;
using Zar.Sources.Registry;

namespace Zar.Cli;

/// <summary>Options every command that reads an image reference takes (they are recursive: valid on every subcommand).</summary>
static class ImageOptions
{
    public static readonly Option<string> Platform = new("--platform") { Description = "os/arch[/variant] to pick from a multi-platform image (default: this machine)", Recursive = true };
    public static readonly Option<string> Creds = new("--creds") { Description = "USER:PASS for the registry (else REGISTRY_AUTH_FILE, ~/.docker/config.json, anonymous)", Recursive = true };
    public static readonly Option<string> AuthFile = new("--authfile") { Description = "registry auth file (docker config.json format)", Recursive = true };
    public static readonly Option<bool> TlsVerify = new("--tls-verify") { Description = "use https and check certificates (localhost/127.0.0.1 always use http)", DefaultValueFactory = _ => true, Recursive = true };
    public static readonly Option<string> Cache = new("--cache") { Description = "blob cache directory (default $ZAR_CACHE or ~/.cache/zar)", Recursive = true };
    public static readonly Option<bool> NoVerify = new("--no-verify") { Description = "skip checking layer digests and diff_ids", Recursive = true };
    public static readonly Option<bool> RejectUnsafe = new("--reject-unsafe-paths") { Description = "refuse a layer holding a member whose name or hardlink target is absolute or climbs above the root with '..' (default: keep it inside the root and warn)", Recursive = true };

    public static readonly Option<string[]> Devices = new("--device") { Description = "an EROFS image's extra device file (repeatable, table order): the tars of a tarfs --meta-only image", Recursive = true, AllowMultipleArgumentsPerToken = false };

    public static readonly Option<bool> Lazy = new("--lazy") { Description = "read docker:// images (and layouts, archives, layer files) without pulling them: layer indexes found locally, in the registry, or built once; file data by HTTP Range", Recursive = true };
    public static readonly Option<string[]> Index = new("--index") { Description = "a layer index (.zidx) to read with (implies --lazy; repeatable)", Recursive = true, AllowMultipleArgumentsPerToken = false };

    public static void AddTo(Command root)
    {
        foreach (var o in new Option[] { Platform, Creds, AuthFile, TlsVerify, Cache, NoVerify, RejectUnsafe, Devices, Lazy, Index }) root.Options.Add(o);
    }

    public static RegistryClientOptions ClientOptions(ParseResult p)
    {
        var creds = p.GetValue(Creds);
        return new RegistryClientOptions
        {
            Credential = creds == null ? null : RegistryCredential.Parse(creds),
            AuthFile = p.GetValue(AuthFile),
            TlsVerify = p.GetValue(TlsVerify),
        };
    }

    /// <summary>This invocation's options for opening a spec: platform, layer checks, and registry access with download progress.</summary>
    public static OpenOptions OpenOptions(ParseResult p, ProgressSink? sink = null) => new()
    {
        Platform = p.GetValue(Platform) is { } platform ? Oci.Platform.Parse(platform) : null,
        Stack = new LayerStackOptions
        {
            Verify = !p.GetValue(NoVerify),
            UnsafePaths = p.GetValue(RejectUnsafe) ? UnsafePathPolicy.Reject : UnsafePathPolicy.Clamp,
        },
        Registry = new RegistryOptions
        {
            Client = ClientOptions(p),
            CacheDirectory = p.GetValue(Cache),
            Progress = new SyncProgress<BlobProgress>(b => (sink ?? ProgressSink.None).Report($"pull {Short(b.Digest)}", b.BytesDone, b.Total ?? 0, b.Completed)),
        },
        Flist = FlistCommands.ReadOptions(p),
        ErofsDevices = p.GetValue(Devices) ?? [],
        Lazy = new Sources.Lazy.LazyOptions
        {
            Enabled = p.GetValue(Lazy),
            IndexFiles = p.GetValue(Index) ?? [],
            IndexDirectory = p.GetValue(Cache) is { } cache ? Path.Combine(cache, "indexes") : null,
            SpanDirectory = p.GetValue(Cache) is { } spans ? Path.Combine(spans, "spans") : null,
        },
    };

    /// <summary>A directory, an image file, or an image reference, as one read-only tree.</summary>
    public static IReadOnlyFileSystem Open(ParseResult p, string spec, ProgressSink? sink = null) =>
        SourceOpener.OpenFileSystem(spec, OpenOptions(p, sink));

    public static LayerStack OpenStack(ParseResult p, string spec, ProgressSink sink) =>
        SourceOpener.OpenStack(spec, OpenOptions(p, sink));

    static string Short(string digest) => digest.Length > 19 ? digest[7..19] : digest;
}
