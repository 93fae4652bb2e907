using Zar.Blobs;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Images.Docker;
using Zar.Sources.Images.Oci;
using Zar.Sources.Layers;
using Zar.Sources.Registry;

namespace Zar.Sources;

/// <summary>
/// The one way from a user's spec (<see cref="SourceSpec"/>) to something readable: a read-only filesystem
/// (<see cref="OpenFileSystem(string, OpenOptions?)"/>), the layers of an image merged
/// (<see cref="OpenStack(string, OpenOptions?)"/>), or the image itself (<see cref="OpenImage(string, OpenOptions?)"/>).
/// Disposing what it returns releases everything it opened.
/// </summary>
public static class SourceOpener
{
    public static IReadOnlyFileSystem OpenFileSystem(string spec, OpenOptions? options = null) =>
        OpenFileSystem(SourceSpec.Parse(spec, options), options);

    /// <summary>Directories and image files as they are; container images as their merged layers.</summary>
    public static IReadOnlyFileSystem OpenFileSystem(SourceSpec spec, OpenOptions? options = null)
    {
        switch (spec.Kind)
        {
            case SourceKind.Directory:
                if (!Directory.Exists(spec.Path)) throw new ZarNotFoundException($"{spec.Path}: no such directory");
                return new HostDirectory(spec.Path);
            case SourceKind.Zar:
                return ZarImage.Open(spec.Path);
            case SourceKind.Erofs:
                return ErofsImage.Open(spec.Path, options?.ErofsDevices);
            case SourceKind.Flist:
                return Formats.Flist.FlistImage.Open(spec.Path, options?.Flist);
            case SourceKind.Stack:
                return OpenOverlay(spec, options);
            case SourceKind.Registry or SourceKind.LayerTar or SourceKind.Tar or SourceKind.OciLayout or SourceKind.OciArchive or SourceKind.DockerArchive
                when options?.Lazy is { } lazy && (lazy.Enabled || lazy.IndexFiles.Count > 0):
                return OpenLazy(spec, options);
            default:
                return new MergedImage(OpenStack(spec, options));
        }
    }

    /// <summary>An image read over layer indexes instead of scanned: nothing pulled or decompressed up front.</summary>
    static IReadOnlyFileSystem OpenLazy(SourceSpec spec, OpenOptions options) => spec.Kind switch
    {
        SourceKind.Registry => Lazy.LazySource.OpenRegistry(spec.Path, options.PlatformOrHost, options.Registry, options.Lazy),
        SourceKind.LayerTar => Lazy.LazySource.OpenLayerFile(spec.Path, options.Lazy),
        SourceKind.Tar when Lazy.ImageIndexer.IsLoneLayer(spec, options) => Lazy.LazySource.OpenLayerFile(spec.Path, options.Lazy),
        _ => Lazy.LazySource.OpenImage(OpenImage(spec, options), options.Lazy),
    };

    /// <summary>
    /// <c>stack:DIR</c> (the per-layer images of a folder written by <c>convert --per-layer</c> or <c>cfs</c>) or
    /// <c>stack:A,B,C</c> (any specs, bottom first): each part opened by <see cref="OpenFileSystem(string, OpenOptions?)"/>
    /// and the readers stacked with the overlay rules (<see cref="OverlayFileSystem"/>).
    /// </summary>
    static OverlayFileSystem OpenOverlay(SourceSpec spec, OpenOptions? options)
    {
        var parts = Directory.Exists(spec.Path) ? LayerFileName.ImagesIn(spec.Path) : spec.Path.Split(',');
        if (parts.Any(p => p.Length == 0)) throw new ZarException($"{spec}: empty part in the stack");
        var layers = new List<IReadOnlyFileSystem>();
        try
        {
            foreach (var part in parts) layers.Add(OpenFileSystem(part, options));
            return new OverlayFileSystem(layers, spec.ToString(), ownsLayers: true);
        }
        catch
        {
            foreach (var l in layers) l.Dispose();
            throw;
        }
    }

    public static LayerStack OpenStack(string spec, OpenOptions? options = null) => OpenStack(SourceSpec.Parse(spec, options), options);

    /// <summary>Scans and merges the layers of a container image; the stack owns the image.</summary>
    public static LayerStack OpenStack(SourceSpec spec, OpenOptions? options = null)
    {
        var source = OpenImage(spec, options);
        try { return LayerStack.Open(source, options?.Stack, ownsSource: true); }
        catch { source.Dispose(); throw; }
    }

    public static IImageSource OpenImage(string spec, OpenOptions? options = null) => OpenImage(SourceSpec.Parse(spec, options), options);

    /// <summary>A container image (config and layer blobs), nothing read beyond its manifests and config.</summary>
    public static IImageSource OpenImage(SourceSpec spec, OpenOptions? options = null)
    {
        options ??= new OpenOptions();
        var platform = options.PlatformOrHost;
        var path = spec.Path;
        switch (spec.Kind)
        {
            case SourceKind.OciLayout:
                if (!Directory.Exists(path)) throw new ZarNotFoundException($"{path}: no such directory");
                return OciLayoutSource.Open(new DirectoryBlobStore(path, $"oci:{path}"), spec.Reference, platform, $"oci:{path}");
            case SourceKind.OciArchive:
                return OciLayoutSource.Open(new TarBlobStore(path, $"oci-archive:{path}"), spec.Reference, platform, $"oci-archive:{path}");
            case SourceKind.DockerArchive:
                return DockerArchiveSource.Open(new TarBlobStore(path, $"docker-archive:{path}"), spec.Reference, platform, $"docker-archive:{path}");
            case SourceKind.LayerTar:
                return new LayerTarSource(path);
            case SourceKind.Tar:
                return OpenTar(path, platform);
            case SourceKind.Registry:
                return RegistrySource.Open(path, platform, options.Registry);
            case SourceKind.Transport:
                return options.Transports![spec.Transport!](path, options);
            case SourceKind.Directory:
                throw new ZarException($"dir:{path} is a plain directory tree, not an image with layers");
            case SourceKind.Zar or SourceKind.Erofs or SourceKind.Flist:
                throw new ZarException($"{path}: a {spec.Kind.ToString().ToLowerInvariant()} image, not a container image with layers");
            case SourceKind.Stack:
                throw new ZarException($"{spec}: a stack of images is a filesystem, not a container image with layers");
            default:
                throw new ZarException($"{spec}: cannot be opened as an image");
        }
    }

    /// <summary>An uncompressed tar named by its path: docker save output, an OCI archive, or else one layer.</summary>
    static IImageSource OpenTar(string path, Oci.Platform platform)
    {
        var store = new TarBlobStore(path, path);
        if (store.Exists(DockerArchiveSource.ManifestFile))
            return DockerArchiveSource.Open(store, null, platform, $"docker-archive:{path}");
        if (OciLayoutSource.IsLayout(store))
            return OciLayoutSource.Open(store, null, platform, $"oci-archive:{path}");
        store.Dispose();
        return new LayerTarSource(path);
    }
}
