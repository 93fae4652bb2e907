using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Sources.Registry;

namespace Zar.Sources.Lazy;

/// <summary>Indexes every layer of an image, layers in parallel, each in one streaming pass (registry blobs are
/// streamed, not pulled into the cache).</summary>
public static class ImageIndexer
{
    /// <summary>A layer file (gzip, zstd, or a plain tar that is not a docker/OCI archive) rather than an image.</summary>
    public static bool IsLoneLayer(SourceSpec spec, OpenOptions options)
    {
        if (spec.Kind == SourceKind.LayerTar) return true;
        if (spec.Kind != SourceKind.Tar) return false;
        using var source = SourceOpener.OpenImage(spec, options);
        return source is Images.LayerTarSource;
    }

    /// <summary>Builds (or refreshes) <c>DIR/HEX.zidx</c> for each layer; returns them bottom first. With <paramref name="push"/>
    /// (registry images only), the indexes are also pushed next to the image (<see cref="IndexRegistry"/>) and
    /// <paramref name="pushed"/> is the artifact's manifest digest.</summary>
    public static IReadOnlyList<(LayerIndex Index, string File)> IndexImage(SourceSpec spec, OpenOptions options, string directory, long spanSize,
        bool push, out string? pushed)
    {
        pushed = null;
        if (push && spec.Kind != SourceKind.Registry) throw new ZarException($"{spec}: --push needs a docker:// image");
        Directory.CreateDirectory(directory);
        if (spec.Kind == SourceKind.Registry)
        {
            var parsed = RegistryReference.Parse(spec.Path);
            using var client = RegistryClient.For(parsed, options.Registry.Client);
            var image = client.ResolveImageAsync(parsed, options.PlatformOrHost).GetAwaiter().GetResult();
            var diffIds = image.Config.DiffIds;
            var built = Run(image.Layers.Count, options.Registry.MaxParallel, i =>
            {
                var l = image.Layers[i];
                using var stream = client.OpenBlobAsync(parsed.Repository, l.Digest, l.Size).GetAwaiter().GetResult();
                return LayerIndexBuilder.Build(stream, $"docker://{parsed.Host}/{parsed.Repository}@{l.Digest}", l.Digest, diffIds.Count > i ? diffIds[i] : null, spanSize);
            }, directory);
            if (push)
                pushed = IndexRegistry.PushAsync(client, parsed.Repository, image.Manifest.Descriptor, built.Select(b => b.Item1).ToList()).GetAwaiter().GetResult();
            return built;
        }
        using var source = SourceOpener.OpenImage(spec, options);
        var ids = source.Config.DiffIds;
        return Run(source.Layers.Count, Environment.ProcessorCount, i =>
        {
            var l = source.Layers[i];
            using var stream = l.OpenLayer();
            return LayerIndexBuilder.Build(stream, l.Description, l.Digest, l.DiffId ?? (ids.Count > i ? ids[i] : null), spanSize);
        }, directory);
    }

    static List<(LayerIndex, string)> Run(int count, int parallel, Func<int, LayerIndex> build, string directory)
    {
        var results = new (LayerIndex, string)[count];
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallel) }, i =>
        {
            var index = build(i);
            var file = LazySource.LocalIndexPath(directory, index.Header.BlobDigest);
            index.Save(file);
            results[i] = (index, file);
        });
        return results.ToList();
    }
}
