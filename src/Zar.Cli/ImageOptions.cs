using System.CommandLine;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Images;
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
    public static readonly Option<bool> RejectUnsafe = new("--reject-unsafe-paths") { Description = "refuse layers with '..'/absolute names instead of clamping them inside the root", Recursive = true };

    public static void AddTo(Command root)
    {
        foreach (var o in new Option[] { Platform, Creds, AuthFile, TlsVerify, Cache, NoVerify, RejectUnsafe }) root.Options.Add(o);
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

    /// <summary>Registers docker:// with this invocation's registry options and download progress.</summary>
    public static void RegisterRegistry(ParseResult p, ProgressSink sink) =>
        RegistryTransport.Register(ClientOptions(p), p.GetValue(Cache), 4,
            new SyncProgress<BlobProgress>(b => sink.Report($"pull {Short(b.Digest)}", b.BytesDone, b.Total ?? 0, b.Completed)));

    public static ImageSourceOptions SourceOptions(ParseResult p) => new() { Platform = p.GetValue(Platform) };

    public static LayerStackOptions StackOptions(ParseResult p) => new()
    {
        Verify = !p.GetValue(NoVerify),
        UnsafePaths = p.GetValue(RejectUnsafe) ? UnsafePathPolicy.Reject : UnsafePathPolicy.Clamp,
    };

    /// <summary>A directory, an image file, or an image reference, as one read-only tree.</summary>
    public static IReadOnlyFileSystem Open(ParseResult p, string spec, ProgressSink? sink = null)
    {
        RegisterRegistry(p, sink ?? ProgressSink.None);
        FlistCommands.ApplyReadOptions(p);
        return FileSystemSource.Open(spec, SourceOptions(p), StackOptions(p));
    }

    public static LayerStack OpenStack(ParseResult p, string spec, ProgressSink sink)
    {
        RegisterRegistry(p, sink);
        return LayerStack.Open(spec, SourceOptions(p), StackOptions(p));
    }

    static string Short(string digest) => digest.Length > 19 ? digest[7..19] : digest;
}

sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
