using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Images.Docker;
using Zar.Sources.Images.Oci;
using Zar.Sources.Layers;
using Zar.Sources.Tar;

namespace Zar.Sources.Images;

public sealed class ImageSourceOptions
{
    /// <summary>"os/arch[/variant]" to pick from multi-platform indexes; default: this machine (linux/amd64 ...).</summary>
    public string? Platform { get; init; }
}

/// <summary>
/// An image reference as skopeo spells them: <c>docker-archive:PATH[:NAME:TAG|:@N]</c>, <c>oci:DIR[:REF]</c>,
/// <c>oci-archive:PATH[:REF]</c>, plus <c>dir:PATH</c> (a plain directory tree, not skopeo's dir: format) and
/// <c>tar:PATH</c> (one layer tar, any compression). Other transports (<c>docker://</c>) come from
/// <see cref="ImageSources.RegisterTransport"/>. Without a known transport an existing path is recognized by
/// its content.
/// </summary>
public sealed record ImageReference(string Transport, string Path, string? Reference)
{
    public static readonly string[] BuiltIn = { "docker-archive", "oci", "oci-archive", "dir", "tar" };

    public static ImageReference Parse(string text)
    {
        if (string.IsNullOrEmpty(text)) throw new ZarException("empty image reference");
        int colon = text.IndexOf(':');
        var transport = colon > 0 ? text[..colon] : "";
        var rest = colon > 0 ? text[(colon + 1)..] : text;
        if (ImageSources.IsRegistered(transport))
            return new ImageReference(transport, rest.StartsWith("//", StringComparison.Ordinal) ? rest[2..] : rest, null);
        switch (transport)
        {
            case "dir":
            case "tar":
                return new ImageReference(transport, Required(rest, text), null);
            case "docker-archive":
            case "oci":
            case "oci-archive":
                {
                    // The path cannot hold ':' (skopeo has the same rule); what follows is the image in the file.
                    int c = rest.IndexOf(':');
                    var path = c < 0 ? rest : rest[..c];
                    var reference = c < 0 || c == rest.Length - 1 ? null : rest[(c + 1)..];
                    return new ImageReference(transport, Required(path, text), reference);
                }
        }
        if (File.Exists(text) || Directory.Exists(text)) return Detect(text);
        if (transport.Length > 0 && !transport.Contains('/'))
            throw new ZarException($"{text}: unknown transport '{transport}' (known: {string.Join(", ", BuiltIn.Concat(ImageSources.Registered).Select(t => t + ":"))})");
        throw new ZarNotFoundException($"{text}: no such file or directory");
    }

    static string Required(string path, string text) =>
        path.Length > 0 ? path : throw new ZarException($"{text}: missing path");

    /// <summary>What an existing path holds: an OCI layout or plain tree (directories); a docker save or OCI archive, or a layer (files).</summary>
    static ImageReference Detect(string path)
    {
        if (Directory.Exists(path))
            return new ImageReference(File.Exists(System.IO.Path.Combine(path, "oci-layout")) ? "oci" : "dir", path, null);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        using (LayerStream.Open(fs, out var compression, leaveOpen: true))
            if (compression != LayerCompression.None) return new ImageReference("tar", path, null);
        using var store = new TarBlobStore(path, path);
        if (store.Exists("manifest.json")) return new ImageReference("docker-archive", path, null);
        if (store.Exists("oci-layout")) return new ImageReference("oci-archive", path, null);
        return new ImageReference("tar", path, null);
    }

    public override string ToString() => Reference == null ? $"{Transport}:{Path}" : $"{Transport}:{Path}:{Reference}";
}

/// <summary>Entry points: open an image reference as an <see cref="IImageSource"/>, a merged filesystem or a layer stack.</summary>
public static class ImageSources
{
    static readonly Dictionary<string, Func<string, ImageSourceOptions, IImageSource>> Transports = new(StringComparer.Ordinal);

    /// <summary>
    /// Adds a transport, e.g. <c>RegisterTransport("docker", (rest, o) => ...)</c> for <c>docker://host/name:tag</c>;
    /// the callback gets what follows "transport:" (a leading "//" removed).
    /// </summary>
    public static void RegisterTransport(string name, Func<string, ImageSourceOptions, IImageSource> open)
    {
        lock (Transports) Transports[name] = open;
    }

    internal static bool IsRegistered(string name) { lock (Transports) return Transports.ContainsKey(name); }
    internal static IEnumerable<string> Registered { get { lock (Transports) return Transports.Keys.ToList(); } }

    public static IImageSource OpenSource(string reference, ImageSourceOptions? options = null) =>
        OpenSource(ImageReference.Parse(reference), options);

    public static IImageSource OpenSource(ImageReference r, ImageSourceOptions? options = null)
    {
        options ??= new ImageSourceOptions();
        var platform = options.Platform ?? Platform.Host.ToString();
        Platform.Parse(platform); // a bad --platform fails before any file is read
        Func<string, ImageSourceOptions, IImageSource>? custom;
        lock (Transports) Transports.TryGetValue(r.Transport, out custom);
        if (custom != null) return custom(r.Path, options);
        switch (r.Transport)
        {
            case "oci":
                if (!Directory.Exists(r.Path)) throw new ZarNotFoundException($"{r.Path}: no such directory");
                return OciLayoutSource.Open(new DirectoryBlobStore(r.Path, $"oci:{r.Path}"), r.Reference, platform, $"oci:{r.Path}");
            case "oci-archive":
                {
                    var store = new TarBlobStore(r.Path, $"oci-archive:{r.Path}");
                    try { return OciLayoutSource.Open(store, r.Reference, platform, $"oci-archive:{r.Path}"); }
                    catch { store.Dispose(); throw; }
                }
            case "docker-archive":
                {
                    var store = new TarBlobStore(r.Path, $"docker-archive:{r.Path}");
                    try { return DockerArchiveSource.Open(store, r.Reference, platform, $"docker-archive:{r.Path}"); }
                    catch { store.Dispose(); throw; }
                }
            case "tar":
                return new LayerTarSource(r.Path);
            case "dir":
                throw new ZarException($"dir:{r.Path} is a plain directory tree, not an image with layers");
            default:
                throw new ZarException($"{r}: unknown transport '{r.Transport}'");
        }
    }

    /// <summary>Scans and merges an image's layers (or a single layer tar). The stack owns the source.</summary>
    public static LayerStack OpenStack(string reference, ImageSourceOptions? options = null, LayerStackOptions? stackOptions = null) =>
        LayerStack.Open(reference, options, stackOptions);

    /// <summary>
    /// The root filesystem of an image reference: <c>dir:</c> as the host directory, anything else as the
    /// merged layer stack. Disposing the result releases the image.
    /// </summary>
    public static IReadOnlyFileSystem OpenFileSystem(string reference, ImageSourceOptions? options = null, LayerStackOptions? stackOptions = null)
    {
        var r = ImageReference.Parse(reference);
        if (r.Transport == "dir")
        {
            if (!Directory.Exists(r.Path)) throw new ZarNotFoundException($"{r.Path}: no such directory");
            return new HostDirectory(r.Path);
        }
        var source = OpenSource(r, options);
        try { return new MergedImage(LayerStack.Open(source, stackOptions, ownsSource: true)); }
        catch { source.Dispose(); throw; }
    }
}

/// <summary>The merged filesystem of a layer stack that owns it (disposing it disposes the stack and its source).</summary>
public sealed class MergedImage(LayerStack stack) : IReadOnlyFileSystem
{
    public LayerStack Stack { get; } = stack;
    public string Description => Stack.Merged.Description;
    public Entry Root => Stack.Merged.Root;
    public Entry? Lookup(string path) => Stack.Merged.Lookup(path);
    public IEnumerable<Entry> List(Entry directory) => Stack.Merged.List(directory);
    public int Read(Entry file, long offset, Span<byte> destination) => Stack.Merged.Read(file, offset, destination);
    public ImageConfiguration Config => Stack.Source.Config;
    public FileData GetData(Entry file) => Stack.Merged.GetData(file);
    public void Dispose() => Stack.Dispose();
}

/// <summary>A single layer tar (plain, gzip or zstd) as a one-layer image with an empty config.</summary>
sealed class LayerTarSource : IImageSource
{
    readonly string _path;
    public LayerTarSource(string path)
    {
        if (!File.Exists(path)) throw new ZarNotFoundException($"{path}: no such file");
        _path = path;
        Description = $"tar:{path}";
        Layers = new[]
        {
            new ImageLayer(null, "application/vnd.oci.image.layer.v1.tar", new FileInfo(path).Length, null, Description,
                () => new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16)),
        };
    }
    public string Description { get; }
    public ImageConfiguration Config { get; } = ImageConfiguration.Empty();
    public IReadOnlyList<ImageLayer> Layers { get; }
    public string? ManifestDigest => null;
    public void Dispose() { }
}
