using System.Collections.Concurrent;
using Zar.Blobs;
using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Sources.Registry;

namespace Zar.Sources.Lazy;

/// <summary>How images are read lazily (<c>--lazy</c>, <c>--index</c>).</summary>
public sealed record LazyOptions
{
    /// <summary>Read <c>docker://</c> images without pulling them.</summary>
    public bool Enabled { get; init; }

    /// <summary>Index files to use (matched to layers by blob digest).</summary>
    public IReadOnlyList<string> IndexFiles { get; init; } = [];

    /// <summary>Where indexes are kept (found, and built ones saved): null = the cache root's <c>indexes</c> folder.</summary>
    public string? IndexDirectory { get; init; }

    /// <summary>Look for indexes pushed to the registry (referrers API, then the <c>sha256-DIGEST.zidx</c> tag).</summary>
    public bool FetchFromRegistry { get; init; } = true;

    /// <summary>A layer with no index anywhere is streamed once to build one (saved in <see cref="IndexDirectory"/>).</summary>
    public bool BuildMissing { get; init; } = true;

    /// <summary>The span cache to use; null: a process-wide one of <see cref="SpanCache.DefaultLimit"/> bytes in memory over
    /// <see cref="SpanDirectory"/> on disk.</summary>
    public SpanCache? Cache { get; init; }

    /// <summary>Where decompressed spans are kept between runs: null = the cache root's <c>spans</c> folder.</summary>
    public string? SpanDirectory { get; init; }

    /// <summary>Bytes of spans kept on disk at most.</summary>
    public long SpanDiskLimit { get; init; } = SpanStore.DefaultLimit;

    public string? TempDirectory { get; init; }

    static readonly ConcurrentDictionary<string, SpanCache> SharedCaches = new();
    internal SpanCache CacheOrShared => Cache ?? SharedCaches.GetOrAdd(SpanDirectoryPath, dir => new SpanCache(SpanCache.DefaultLimit, new SpanStore(dir, SpanDiskLimit)));
    public string SpanDirectoryPath => SpanDirectory ?? Path.Combine(DirectoryBlobStore.DefaultCacheRoot(), "spans");
    public string IndexDirectoryPath => IndexDirectory ?? Path.Combine(DirectoryBlobStore.DefaultCacheRoot(), "indexes");
}

/// <summary>
/// Opens images lazily: a layer file with its index, a local image whose blobs are files, or a registry image read
/// by HTTP Range. Each layer's index is found (given files, the local index folder, the registry) or built once
/// by streaming the blob (layers in parallel) and kept for next time.
/// </summary>
public static class LazySource
{
    /// <summary>One layer blob on disk (.tar.gz, .tar.zst, .tar) with its index (built on the fly when none is given).</summary>
    public static LazyImage OpenLayerFile(string path, LazyOptions options)
    {
        var blob = new FileBlob(Path.GetFullPath(path), description: path);
        try
        {
            var index = options.IndexFiles.Count > 0 ? Pick(options.IndexFiles.Select(LayerIndex.Load), blob.Length, path) : LayerIndexBuilder.BuildFile(path);
            return LazyImage.Open([new LazyLayer(index, blob)], path, options.CacheOrShared, tempDirectory: options.TempDirectory);
        }
        catch { blob.Dispose(); throw; }
    }

    static LayerIndex Pick(IEnumerable<LayerIndex> indexes, long size, string what) =>
        indexes.FirstOrDefault(i => i.Header.BlobSize == size)
        ?? throw new ZarException($"{what}: none of the given indexes is for this blob ({size} bytes)");

    /// <summary>A <c>docker://</c> reference read without pulling: manifest and config fetched, layers by Range.</summary>
    public static LazyImage OpenRegistry(string reference, Platform platform, RegistryOptions registry, LazyOptions options)
    {
        var parsed = RegistryReference.Parse(reference);
        var client = RegistryClient.For(parsed, registry.Client);
        try
        {
            var image = client.ResolveImageAsync(parsed, platform).GetAwaiter().GetResult();
            var layers = image.Layers;
            var diffIds = image.Config.DiffIds;
            var known = KnownIndexes(options, layers.Select(l => l.Digest));
            var missing = layers.Where(l => !known.ContainsKey(l.Digest)).ToList();
            if (missing.Count > 0 && options.FetchFromRegistry)
                foreach (var found in IndexRegistry.Find(client, parsed.Repository, image.Manifest.Digest, missing.Select(l => l.Digest).ToHashSet()))
                {
                    known[found.Header.BlobDigest] = found;
                    SaveLocal(found, options);
                }
            var build = layers.Select((l, i) => (l, i)).Where(x => !known.ContainsKey(x.l.Digest)).ToList();
            if (build.Count > 0 && !options.BuildMissing)
                throw new ZarNotFoundException($"docker://{parsed.Host}/{parsed.Repository}: no index for layer {build[0].l.Digest} (run zar index --push, or allow building one)");
            Parallel.ForEach(build, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, registry.MaxParallel) }, x =>
            {
                using var stream = client.OpenBlobAsync(parsed.Repository, x.l.Digest, x.l.Size).GetAwaiter().GetResult();
                var index = LayerIndexBuilder.Build(stream, $"docker://{parsed.Host}/{parsed.Repository}@{x.l.Digest}", x.l.Digest,
                    diffIds.Count > x.i ? diffIds[x.i] : null);
                known[x.l.Digest] = index;
                SaveLocal(index, options);
            });
            var lazyLayers = layers.Select(l => new LazyLayer(known[l.Digest],
                client.OpenRandomAccessBlobAsync(parsed.Repository, l.Digest, l.Size).GetAwaiter().GetResult(), l.Digest)).ToList();
            var lazy = LazyImage.Open(lazyLayers, $"docker://{parsed.Host}/{parsed.Repository}", options.CacheOrShared, tempDirectory: options.TempDirectory, owns: client);
            lazy.Config = image.Config;
            return lazy;
        }
        catch { client.Dispose(); throw; }
    }

    /// <summary>A local image (layout, archive) whose layer blobs are in local files: indexes found or built, data read in place.</summary>
    public static LazyImage OpenImage(IImageSource source, LazyOptions options)
    {
        try
        {
            var known = KnownIndexes(options, source.Layers.Select(l => l.Digest));
            var diffIds = source.Config.DiffIds;
            var indexes = new LayerIndex[source.Layers.Count];
            Parallel.For(0, source.Layers.Count, i =>
            {
                var l = source.Layers[i];
                if (l.Digest != null && known.TryGetValue(l.Digest, out var index)) { indexes[i] = index; return; }
                using var stream = l.OpenLayer();
                indexes[i] = LayerIndexBuilder.Build(stream, l.Description, l.Digest, l.DiffId ?? (diffIds.Count > i ? diffIds[i] : null));
                SaveLocal(indexes[i], options);
            });
            var layers = source.Layers.Select((l, i) => new LazyLayer(indexes[i],
                l.Locate()?.OpenBlob(l.Description) ?? throw new ZarNotSupportedException($"{l.Description}: lazy reading needs the blob in a local file or a registry"),
                l.Digest)).ToList();
            var lazy = LazyImage.Open(layers, source.Description, options.CacheOrShared, tempDirectory: options.TempDirectory, owns: source);
            lazy.Config = source.Config;
            return lazy;
        }
        catch { source.Dispose(); throw; }
    }

    /// <summary>The given index files, plus the cached ones of <paramref name="layerDigests"/> (a damaged cached index is dropped and rebuilt).</summary>
    static ConcurrentDictionary<string, LayerIndex> KnownIndexes(LazyOptions options, IEnumerable<string?> layerDigests)
    {
        var known = new ConcurrentDictionary<string, LayerIndex>();
        foreach (var f in options.IndexFiles)
        {
            var index = LayerIndex.Load(f);
            known[index.Header.BlobDigest] = index;
        }
        foreach (var digest in layerDigests)
        {
            if (digest == null || known.ContainsKey(digest)) continue;
            var path = LocalIndexPath(options.IndexDirectoryPath, digest);
            if (!File.Exists(path)) continue;
            try { known[digest] = LayerIndex.Load(path); }
            catch (ZarFormatException) { try { File.Delete(path); } catch (IOException) { } }
        }
        return known;
    }

    /// <summary>Where a layer's index is kept locally: <c>DIR/HEX.zidx</c>.</summary>
    public static string LocalIndexPath(string directory, string blobDigest) =>
        Path.Combine(directory, blobDigest[(blobDigest.IndexOf(':') + 1)..] + LayerIndex.FileExtension);

    static void SaveLocal(LayerIndex index, LazyOptions options)
    {
        var dir = options.IndexDirectoryPath;
        try
        {
            Directory.CreateDirectory(dir);
            index.Save(LocalIndexPath(dir, index.Header.BlobDigest));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ZarException) { } // a cache that cannot be written only costs a rebuild
    }
}
