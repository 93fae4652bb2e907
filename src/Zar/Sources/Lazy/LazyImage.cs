using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Layers;
using Zar.Sources.Tar;

namespace Zar.Sources.Lazy;

/// <summary>One layer to read lazily: its index and its compressed blob (a local file, a registry blob).</summary>
public sealed record LazyLayer(LayerIndex Index, IBlob Blob, string? Digest = null);

/// <summary>
/// An image read without pulling it: each layer's tree comes from its index's tar headers (nothing fetched), the
/// layers are applied with the one merger (containerd semantics) and stacked by the one overlay, and file data
/// is served span by span by <see cref="LazyLayerBlob"/>. Disposing it releases the layers' blobs.
/// </summary>
public sealed class LazyImage : IReadOnlyFileSystem
{
    readonly OverlayFileSystem _merged;
    readonly LazyLayerBlob[] _blobs;
    readonly IDisposable? _owned;

    public IReadOnlyList<LazyLayerBlob> Blobs => _blobs;
    public IReadOnlyList<string> Warnings { get; }

    LazyImage(OverlayFileSystem merged, LazyLayerBlob[] blobs, List<string> warnings, IDisposable? owned)
    {
        _owned = owned;
        _merged = merged;
        _blobs = blobs;
        Warnings = warnings;
    }

    public static LazyImage Open(IReadOnlyList<LazyLayer> layers, string description, SpanCache cache,
        UnsafePathPolicy unsafePaths = UnsafePathPolicy.Clamp, string? tempDirectory = null, IDisposable? owns = null, bool readAhead = true)
    {
        var warnings = new List<string>();
        var merger = new LayerMerger(unsafePaths, warnings);
        var blobs = new List<LazyLayerBlob>();
        var trees = new List<IReadOnlyFileSystem>();
        try
        {
            for (int i = 0; i < layers.Count; i++)
            {
                var layer = layers[i];
                layer.Index.CheckBinding(layer.Digest, layer.Blob.Length, layer.Blob.Description);
                var blob = new LazyLayerBlob(layer.Index, layer.Blob, cache, tempDirectory, readAhead);
                blobs.Add(blob);
                var what = $"{description}: layer {i + 1}/{layers.Count} ({layer.Index.Header.BlobDigest})";
                var members = new List<LayerMember>();
                using (var reader = new TarReader(new IndexedTarStream(layer.Index), what))
                    while (reader.Next() is { } te)
                        members.Add(new LayerMember(te.Entry, te.RawName, te.RawLinkName, te.Escapes, te.DataIn(blob)));
                var upper = merger.Apply(i, what, members);
                trees.Add(new LayerTreeFileSystem($"{description} layer {i + 1}/{layers.Count}", FrozenTree.FromUpper(upper).WithWhiteouts()));
            }
            return new LazyImage(new OverlayFileSystem(trees, $"{description} (lazy)"), blobs.ToArray(), warnings, owns);
        }
        catch
        {
            foreach (var b in blobs) b.Dispose();
            throw;
        }
    }

    /// <summary>Image config when the image came with one (registry, layout), else null.</summary>
    public Oci.ImageConfig? Config { get; internal set; }

    /// <summary>Compressed bytes fetched by all layers so far.</summary>
    public long CompressedBytesRead => _blobs.Sum(b => b.CompressedBytesRead);

    public string Description => _merged.Description;
    public Entry Root => _merged.Root;
    public Entry? Lookup(string path) => _merged.Lookup(path);
    public Entry? Lookup(Entry directory, string name) => _merged.Lookup(directory, name);
    public IEnumerable<Entry> List(Entry directory) => _merged.List(directory);
    public FileData GetData(Entry file) => _merged.GetData(file);
    public int Read(Entry file, long offset, Span<byte> destination) => _merged.Read(file, offset, destination);
    public FileSystemTotals GetTotals() => ((IReadOnlyFileSystem)_merged).GetTotals();

    public void Dispose()
    {
        _merged.Dispose();
        foreach (var b in _blobs) b.Dispose();
        _owned?.Dispose();
    }
}
