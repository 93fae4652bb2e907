using Zar.Blobs;
using Zar.Model;
using Zar.Oci;

namespace Zar.Sources.Images.Oci;

/// <summary>
/// An image in an OCI image layout (image-spec image-layout.md), as a directory (<c>oci:</c>) or inside an
/// uncompressed tar (<c>oci-archive:</c>, moby v25+ and containerd <c>docker save</c> output). The image is
/// chosen by tag (org.opencontainers.image.ref.name or io.containerd.image.name in index.json) or digest,
/// then nested indexes are descended by platform. Manifests and the config are verified against their
/// descriptors; layer blobs are verified while they are read (see LayerStack).
/// </summary>
sealed class OciLayoutSource : IImageSource
{
    const int MaxIndexDepth = 8;
    readonly IBlobStore _store;

    public string Description { get; }
    public ImageConfig Config { get; }
    public IReadOnlyList<ImageLayer> Layers { get; }
    public string? ManifestDigest { get; }

    OciLayoutSource(IBlobStore store, string description, ImageConfig config, IReadOnlyList<ImageLayer> layers, string manifestDigest)
    {
        _store = store;
        Description = description;
        Config = config;
        Layers = layers;
        ManifestDigest = manifestDigest;
    }

    public static bool IsLayout(IBlobStore store) => store.Exists(OciLayout.MarkerFile);

    /// <summary>Opens the image; the source owns <paramref name="store"/> from here (also when this throws).</summary>
    public static OciLayoutSource Open(IBlobStore store, string? reference, Platform platform, string description)
    {
        try { return OpenIn(store, reference, platform, description); }
        catch { store.Dispose(); throw; }
    }

    static OciLayoutSource OpenIn(IBlobStore store, string? reference, Platform platform, string description)
    {
        if (!IsLayout(store)) throw new ZarFormatException($"{description}: not an OCI image layout (no oci-layout file)");
        OciLayout.CheckMarker(store.ReadAll(OciLayout.MarkerFile), description);
        if (!store.Exists(OciLayout.IndexFile)) throw new ZarFormatException($"{description}: OCI layout without index.json");
        var images = ImageIndex.Parse(store.ReadAll(OciLayout.IndexFile), $"{description}: index.json").Images;

        IReadOnlyList<Descriptor> chosen;
        if (reference == null)
        {
            var digests = images.Select(d => d.Digest).Distinct().ToList();
            if (digests.Count == 0) throw new ZarNotFoundException($"{description}: the layout holds no image");
            // Several entries with one digest, or per-platform entries under one name: treat them as one index.
            var names = images.Select(Name).Distinct().ToList();
            if (digests.Count > 1 && names.Count > 1)
                throw new ZarException($"{description}: the layout holds {images.Count} images; name one ({Names(images)})");
            chosen = images;
        }
        else
        {
            var want = reference.StartsWith('@') ? reference[1..] : reference;
            chosen = images.Where(d => d.Digest == want || d.RefName == want || d.Annotation(Descriptor.ContainerdNameAnnotation) == want).ToList();
            if (chosen.Count == 0)
                throw new ZarNotFoundException($"{description}: no image named '{reference}' in index.json (available: {Names(images)})");
        }
        var desc = chosen.Count == 1 ? chosen[0] : SelectPlatform(chosen, platform, $"{description}: index.json");
        var fullDescription = reference == null ? description : $"{description}:{reference}";
        return Resolve(store, desc, platform, fullDescription, 0);
    }

    static string? Name(Descriptor d) => d.RefName ?? d.Annotation(Descriptor.ContainerdNameAnnotation);

    static string Names(IEnumerable<Descriptor> images)
    {
        var names = images.Select(d => Name(d) ?? d.Digest).Distinct().ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    static Descriptor SelectPlatform(IReadOnlyList<Descriptor> entries, Platform platform, string what)
    {
        var order = platform.RankEntries(entries, d => d.Platform, d => d.Annotations);
        if (order.Count == 0)
            throw new ZarNotFoundException($"{what}: no image for platform {platform} (available: {Platform.DescribeAvailable(entries, d => d.Platform, d => d.Annotations)}); choose one with --platform");
        return entries[order[0]];
    }

    static OciLayoutSource Resolve(IBlobStore store, Descriptor desc, Platform platform, string description, int depth)
    {
        if (depth > MaxIndexDepth) throw new ZarFormatException($"{description}: image indexes nested more than {MaxIndexDepth} deep");
        var what = $"{description}: {desc.Digest}";
        var document = ManifestDocument.Read(store.ReadVerified(desc, description), desc.MediaType, desc.Digest, what);
        if (document.IsIndex)
        {
            var entries = document.AsIndex($"{description}: index {desc.Digest}").Images;
            var child = SelectPlatform(entries, platform, $"{description}: index {desc.Digest}");
            if (child.Data == null && !store.Contains(child.Digest))
                throw new ZarNotFoundException($"{description}: the manifest {child.Digest} for {child.PlatformText} is not in the layout (only some platforms were saved)");
            return Resolve(store, child, platform, description, depth + 1);
        }
        if (!MediaTypes.IsManifest(document.MediaType))
            throw new ZarNotSupportedException($"{description}: {desc.Digest} has media type {document.MediaType}, not an image manifest");

        var manifest = document.AsManifest($"{description}: manifest {desc.Digest}");
        var cfgDesc = manifest.Config ?? throw new ZarFormatException($"{description}: manifest {desc.Digest} has no config");
        if (cfgDesc.MediaType != null && !MediaTypes.IsImageConfig(cfgDesc.MediaType))
            throw new ZarNotSupportedException($"{description}: {desc.Digest} is an artifact ({cfgDesc.MediaType}), not a container image");
        var config = ImageConfig.Parse(store.ReadVerified(cfgDesc, description), $"{description}: config {cfgDesc.Digest}");
        if (config.DiffIds.Count != manifest.Layers.Count)
            throw new ZarFormatException($"{description}: manifest lists {manifest.Layers.Count} layers but the config has {config.DiffIds.Count} diff_ids");

        var layers = new List<ImageLayer>();
        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            var ld = manifest.Layers[i];
            var mediaType = ld.MediaType ?? MediaTypes.OciLayer;
            if (MediaTypes.IsEncrypted(mediaType))
                throw new ZarNotSupportedException($"{description}: layer {ld.Digest} is encrypted ({mediaType})");
            var path = OciLayout.BlobPath(ld.Digest);
            if (!store.Exists(path))
                throw new ZarNotFoundException($"{description}: layer blob {ld.Digest} is not in the layout");
            layers.Add(new ImageLayer(ld.Digest, mediaType, ld.Size, config.DiffIds[i], $"{description} layer {i + 1}", () => store.Open(path), () => store.Locate(path)));
        }
        return new OciLayoutSource(store, description, config, layers, desc.Digest);
    }

    public void Dispose() => _store.Dispose();
}
