using Zar.IO;
using Zar.Model;
using Zar.Overlay;
using Zar.Oci;
using Zar.Sources.Images;
using Zar.Sources.Tar;

namespace Zar.Sources.Layers;

public sealed class LayerStackOptions
{
    /// <summary>Check each blob against its digest and each uncompressed tar against its diff_id while scanning.</summary>
    public bool Verify { get; init; } = true;

    /// <summary>Decompress gzip/zstd layers (and layers whose blob stream cannot seek) into temporary files during the scan (one uncompressed layer's worth
    /// of temp space each) so file data can be read in any order at disk speed. Off: compressed layers are
    /// re-decompressed on demand — fine for a pass in tar order (<see cref="Consumers.StreamingPass"/>), slow for
    /// reads in walk order (measured on a Debian image: 14.5 s instead of 0.1 s for 193 MiB).</summary>
    public bool SpillCompressedLayers { get; init; } = true;

    /// <summary>Where spilled layers go (default: the system temp directory).</summary>
    public string? TempDirectory { get; init; }

    public UnsafePathPolicy UnsafePaths { get; init; } = UnsafePathPolicy.Clamp;
}

/// <summary>What the scan learned about one layer.</summary>
public sealed record LayerInfo(int Index, string Description, LayerCompression Compression, int MemberCount, long TarBytes, string? Digest, string? DiffId);

/// <summary>
/// The layers of an image applied on top of each other without extracting anything: each layer tar is read
/// once (headers only are kept, data stays in the layer: segments of its <see cref="LayerBlob"/>), verified,
/// and applied with containerd's semantics. <see cref="GetLayer"/> gives each layer as an overlay upper
/// directory would hold it; <see cref="Merged"/>, the flattened root filesystem, is those layers stacked
/// by the one overlay (<see cref="OverlayFileSystem"/>).
/// </summary>
public sealed class LayerStack : IDisposable
{
    readonly IImageSource? _ownedSource;
    readonly LayerBlob[] _blobs;
    readonly FrozenTree[] _upperTrees;
    readonly OverlayFileSystem _merged;
    readonly List<string> _warnings;
    readonly Dictionary<int, LayerTreeFileSystem> _layerFs = new();

    public IImageSource Source { get; }
    /// <summary>The image config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Volumes, Labels, diff_ids).</summary>
    public ImageConfig Config => Source.Config;
    public IReadOnlyList<LayerInfo> Layers { get; }
    /// <summary>Oddities tolerated while merging (things containerd would warn about).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Each layer's uncompressed tar, bottom first: what the layers' file data points into.</summary>
    public IReadOnlyList<LayerBlob> Blobs => _blobs;

    /// <summary>The flattened filesystem (all layers applied).</summary>
    public OverlayFileSystem Merged => _merged;

    LayerStack(IImageSource source, bool ownsSource, LayerBlob[] blobs, LayerInfo[] infos, FrozenTree[] upperTrees, List<string> warnings)
    {
        Source = source;
        _ownedSource = ownsSource ? source : null;
        _blobs = blobs;
        Layers = infos;
        _upperTrees = upperTrees;
        _warnings = warnings;
        _merged = new OverlayFileSystem(Enumerable.Range(0, upperTrees.Length).Select(LayerTree),
            $"{source.Description} (merged)");
    }

    /// <summary>Scans and merges every layer of <paramref name="source"/>. With <paramref name="ownsSource"/>, disposing the stack disposes the source.</summary>
    public static LayerStack Open(IImageSource source, LayerStackOptions? options = null, bool ownsSource = false)
    {
        options ??= new LayerStackOptions();
        var warnings = new List<string>();
        var merger = new LayerMerger(options.UnsafePaths, warnings);
        var data = new List<LayerBlob>();
        var infos = new List<LayerInfo>();
        var upperTrees = new List<FrozenTree>();
        var diffIds = source.Config.DiffIds;
        if (diffIds.Count != 0 && diffIds.Count != source.Layers.Count)
            throw new ZarFormatException($"{source.Description}: the config lists {diffIds.Count} diff_ids for {source.Layers.Count} layers");
        // Layers are scanned (decompressed, hashed, spilled) ahead on the other cores while the merge applies them
        // in order: the merge needs them one after another, their scans do not.
        int count = source.Layers.Count;
        int ahead = Math.Clamp(Environment.ProcessorCount, 1, Math.Max(1, count));
        var scans = new Task<(List<LayerMember> Members, LayerBlob Blob, long TarBytes)>?[count];
        string What(int i) => $"{source.Description}: layer {i + 1}/{count} ({source.Layers[i].Digest ?? source.Layers[i].DiffId ?? source.Layers[i].Description})";
        string? DiffIdOf(int i) => source.Layers[i].DiffId ?? (diffIds.Count > i ? diffIds[i] : null);
        void StartScans(int from)
        {
            for (int j = from; j < Math.Min(count, from + ahead); j++)
            {
                if (scans[j] != null) continue;
                int k = j;
                scans[k] = Task.Factory.StartNew(() => Scan(source.Layers[k], DiffIdOf(k), What(k), options),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            }
        }
        try
        {
            for (int i = 0; i < count; i++)
            {
                StartScans(i);
                var what = What(i);
                var diffId = DiffIdOf(i);
                var (members, blob, tarBytes) = scans[i]!.GetAwaiter().GetResult();
                data.Add(blob);
                var compression = blob.Compression;
                infos.Add(new LayerInfo(i, what, compression, members.Count, tarBytes, source.Layers[i].Digest, diffId));
                var upper = merger.Apply(i, what, members);
                // Later layers may change attributes of inodes this layer holds (hardlink headers, directories):
                // an upper tree is a snapshot taken now.
                upperTrees.Add(FrozenTree.FromUpper(upper));
            }
            return new LayerStack(source, ownsSource, data.ToArray(), infos.ToArray(), upperTrees.ToArray(), warnings);
        }
        catch
        {
            // Scans already started finish before their blobs (and spills) are dropped.
            foreach (var t in scans)
            {
                if (t == null) continue;
                try { t.Wait(); } catch (AggregateException) { }
                if (t.IsCompletedSuccessfully && !data.Contains(t.Result.Blob)) t.Result.Blob.Dispose();
            }
            foreach (var d in data) d.Dispose();
            throw;
        }
    }

    static (List<LayerMember>, LayerBlob, long) Scan(ImageLayer layer, string? diffId, string what, LayerStackOptions options)
    {
        var members = new List<LayerMember>();
        string? spillPath = null;
        FileStream? spill = null;
        ReadAheadStream? readAhead = null;
        using var raw = layer.OpenLayer();
        try
        {
            DigestVerifyingStream? blobCheck = options.Verify && layer.Digest != null
                ? new DigestVerifyingStream(raw, layer.Digest, layer.Size, $"{what}: blob", leaveOpen: true) : null;
            Stream tarStream;
            LayerCompression compression;
            if (blobCheck == null && raw.CanSeek)
            {
                // Nothing to hash: let the tar reader seek over file data.
                using (LayerStream.Open(raw, out compression, leaveOpen: true)) { }
                raw.Position = 0;
                tarStream = compression == LayerCompression.None ? raw : LayerStream.Open(raw, out compression, leaveOpen: true);
            }
            else tarStream = LayerStream.Open(blobCheck ?? (Stream)raw, out compression, leaveOpen: true);
            // Inflating (and hashing the blob) on one core, hashing the tar, parsing and spilling on another.
            if (compression != LayerCompression.None) tarStream = readAhead = new ReadAheadStream(tarStream, leaveOpen: true);

            DigestVerifyingStream? diffCheck = null;
            bool diffIsBlob = compression == LayerCompression.None && blobCheck != null && layer.Digest == diffId;
            if (options.Verify && diffId != null && !diffIsBlob)
                tarStream = diffCheck = new DigestVerifyingStream(tarStream, diffId, null, $"{what}: uncompressed tar (diff_id)", leaveOpen: true);
            // A blob stream that cannot seek (a registry download) is spilled even when uncompressed.
            if (options.SpillCompressedLayers && (compression != LayerCompression.None || !raw.CanSeek))
            {
                spillPath = Path.Combine(options.TempDirectory ?? Path.GetTempPath(), $"zar-layer-{Guid.NewGuid():N}.tar");
                spill = new FileStream(spillPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
                tarStream = new TeeStream(tarStream, spill);
            }
            long tarBytes;
            var blob = new LayerBlob(layer, what, compression, spillPath);
            using (var reader = new TarReader(tarStream, what, leaveOpen: true) { RequireEndMarker = compression == LayerCompression.Gzip })
            {
                while (reader.Next() is { } te)
                    members.Add(new LayerMember(te.Entry, te.RawName, te.RawLinkName, te.Escapes, te.DataIn(blob)));
                tarBytes = reader.Position;
            }
            // The digests cover every byte, end-of-archive padding included.
            if (diffCheck != null) diffCheck.Finish();
            else if (spill != null || blobCheck != null) Drain(tarStream);
            blobCheck?.Finish();
            spill?.Dispose();
            spill = null;
            readAhead?.Dispose();
            return (members, blob, tarBytes);
        }
        catch (InvalidDataException e)
        {
            Cleanup();
            throw new ZarFormatException($"{what}: {e.Message}", e);
        }
        catch
        {
            Cleanup();
            throw;
        }

        void Cleanup()
        {
            // The read-ahead thread stops before the blob it reads is closed.
            readAhead?.Dispose();
            spill?.Dispose();
            if (spillPath != null) try { File.Delete(spillPath); } catch (IOException) { }
        }
    }

    static void Drain(Stream s)
    {
        var buf = new byte[81920];
        while (s.Read(buf) > 0) { }
    }

    /// <summary>
    /// Layer <paramref name="index"/> (0 = bottom) as a tree of its own: what the layer adds or changes,
    /// plus the lower directories and hardlink targets it needs (copied up, as overlayfs would), and its
    /// deletions as whiteouts in <paramref name="format"/>. Stacking these trees (with overlayfs, lowerdir =
    /// top:...:bottom, or with <see cref="OverlayFileSystem"/>) gives <see cref="Merged"/>.
    /// Aufs form keeps the tar's whiteout files, except that a whiteout whose name the same layer re-creates is
    /// dropped (the new entry hides the lower one anyway); a re-created directory gets an opaque marker instead.
    /// Overlay form is the Aufs form through <see cref="OverlayFormView"/>.
    /// </summary>
    public IReadOnlyFileSystem GetLayer(int index, WhiteoutFormat format = WhiteoutFormat.Aufs)
    {
        var aufs = LayerTree(index);
        return format == WhiteoutFormat.Aufs ? aufs : new OverlayFormView(aufs);
    }

    LayerTreeFileSystem LayerTree(int index)
    {
        if (index < 0 || index >= _upperTrees.Length) throw new ArgumentOutOfRangeException(nameof(index));
        lock (_layerFs)
        {
            if (_layerFs.TryGetValue(index, out var fs)) return fs;
            fs = new LayerTreeFileSystem($"{Source.Description} layer {index + 1}/{_upperTrees.Length}", _upperTrees[index].WithWhiteouts());
            _layerFs[index] = fs;
            return fs;
        }
    }

    public void Dispose()
    {
        _merged.Dispose();
        foreach (var d in _blobs) d.Dispose();
        _ownedSource?.Dispose();
    }
}
