using Zar.Blobs;
using Zar.Formats.Erofs;
using Zar.Formats.Verity;
using Zar.IO;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Layers;
using Zar.Sources.Tar;

namespace Zar.Formats.Tarfs;

/// <summary>nydus-snapshotter's tarfs export modes (<c>[experimental.tarfs] export_mode</c>).</summary>
public enum TarfsMode { LayerBlock, ImageBlock, LayerBlockWithVerity, ImageBlockWithVerity }

public static class TarfsModes
{
    public static readonly IReadOnlyList<string> Names = ["layer_block", "image_block", "layer_block_with_verity", "image_block_with_verity"];

    public static TarfsMode Parse(string name) => name switch
    {
        "layer_block" => TarfsMode.LayerBlock,
        "image_block" => TarfsMode.ImageBlock,
        "layer_block_with_verity" => TarfsMode.LayerBlockWithVerity,
        "image_block_with_verity" => TarfsMode.ImageBlockWithVerity,
        _ => throw new ZarException($"tarfs mode '{name}': one of {string.Join(", ", Names)}"),
    };

    public static string Name(this TarfsMode mode) => Names[(int)mode];
    public static bool PerLayer(this TarfsMode mode) => mode is TarfsMode.LayerBlock or TarfsMode.LayerBlockWithVerity;
    public static bool WithVerity(this TarfsMode mode) => mode is TarfsMode.LayerBlockWithVerity or TarfsMode.ImageBlockWithVerity;
}

public sealed record TarfsOptions
{
    public TarfsMode Mode { get; init; } = TarfsMode.LayerBlock;
    /// <summary>Write the EROFS metadata alone; the layer tars are extra devices (<c>mount -o device=</c>), the <c>mkfs.erofs --tar=i</c> form.</summary>
    public bool MetaOnly { get; init; }
    /// <summary>Per-disk progress (bytes written), by disk index.</summary>
    public Func<int, IProgress<long>?>? ProgressFor { get; init; }
}

/// <summary>One written disk (or metadata file) and how to use it.</summary>
public sealed record TarfsDisk(string Path, int? Layer, long Bytes, long MetadataBytes, long TarBytes, long PointedFiles, long CopiedFiles)
{
    /// <summary>Meta-only: the tar files the metadata's device table names, in table order (mount each as a loop device).</summary>
    public IReadOnlyList<string> DeviceFiles { get; init; } = [];
    public VerityTreeInfo? Verity { get; init; }

    /// <summary>A shell command that mounts it at MNT (read-only).</summary>
    public string MountCommand(string mountPoint = "MNT")
    {
        if (Verity is { } v)
            return $"{v.Parameters.OpenCommand(Path, v.RootHash)} && mount -t erofs -o ro /dev/mapper/zar-verity {mountPoint}";
        if (DeviceFiles.Count == 0) return $"mount -t erofs -o loop,ro {Quote(Path)} {mountPoint}";
        var loops = DeviceFiles.Select((d, i) => $"D{i + 1}=$(losetup -f --show -r {Quote(d)})");
        var option = string.Join(",", DeviceFiles.Select((_, i) => $"device=$D{i + 1}"));
        return $"{string.Join(" && ", loops)} && mount -t erofs -o ro,{option} {Quote(Path)} {mountPoint}";
    }

    static string Quote(string s) => s.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+:@".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}

/// <summary>
/// Nydus's tarfs without containerd: EROFS metadata with 512-byte blocks whose regular files point straight
/// into the layer tars (tar data is 512-aligned), so no file byte is copied. <c>layer_block</c>: per layer,
/// one disk [metadata][zeros to 512 KiB][the layer's tar], whiteouts as overlayfs stores them so the layer
/// disks stack with overlayfs. <c>image_block</c>: one disk, the merged tree's metadata then every tar (each
/// at a 512 KiB boundary, as <c>nydus-image export --block</c> places them). <c>*_with_verity</c> append a
/// dm-verity tree (512-byte data blocks). Meta-only: the metadata alone, the tars as extra devices.
/// Files the tar cannot back block by block (a GNU sparse member's extents, a hardlink target from a
/// lower layer) are copied into the metadata area: the writer's placement seam never drops data.
/// </summary>
public static class TarfsBuilder
{
    public const int BlockSize = 512;
    /// <summary>Where <c>nydus-image export --block</c> starts each tar (V6_BLOCK_SEG_ALIGNMENT).</summary>
    public const long TarAlignment = 512 * 1024;

    /// <summary>Writes the disks: <paramref name="output"/> is a directory for the per-layer modes, the disk (or metadata) file otherwise.</summary>
    public static IReadOnlyList<TarfsDisk> Build(LayerStack stack, string output, TarfsOptions options)
    {
        if (options.MetaOnly && options.Mode.WithVerity())
            throw new ZarNotSupportedException("--meta-only with a *_with_verity mode: the tars would not be covered; protect the one-file disk instead");
        for (int i = 0; i < stack.Blobs.Count; i++)
            if (stack.Blobs[i].Length < 0) throw new ZarException($"{stack.Layers[i].Description}: the tar cannot be read at random (open the stack with spilled layers)");
        var diffIds = Enumerable.Range(0, stack.Layers.Count).Select(i => DiffId(stack, i)).ToArray();
        var disks = new List<TarfsDisk>();
        if (options.Mode.PerLayer())
        {
            Directory.CreateDirectory(output);
            for (int i = 0; i < stack.Layers.Count; i++)
            {
                var name = LayerFileName.For(i, stack.Layers.Count, diffIds[i], options.MetaOnly ? "layer.meta" : "layer.disk");
                disks.Add(WriteDisk(stack, stack.GetLayer(i, WhiteoutFormat.Overlay), Path.Combine(output, name), [i], i, diffIds, options, options.ProgressFor?.Invoke(i)));
            }
        }
        else
        {
            var parent = Path.GetDirectoryName(Path.GetFullPath(output))!;
            if (!Directory.Exists(parent)) throw new ZarException($"{output}: directory {parent} does not exist");
            disks.Add(WriteDisk(stack, stack.Merged, output, Enumerable.Range(0, stack.Layers.Count).ToArray(), null, diffIds, options, options.ProgressFor?.Invoke(0)));
        }
        return disks;
    }

    static TarfsDisk WriteDisk(LayerStack stack, IReadOnlyFileSystem tree, string path, int[] layers, int? layer, string[] diffIds, TarfsOptions options, IProgress<long>? progress)
    {
        var devices = new List<ErofsDevice>();
        var deviceFiles = new List<string>();
        var opened = new List<IDisposable>();
        try
        {
            IReadOnlyFileSystem source = tree;
            if (options.MetaOnly)
            {
                var redirect = new Dictionary<IBlob, IBlob>(ReferenceEqualityComparer.Instance);
                foreach (int i in layers)
                {
                    var file = TarFile(stack, i, diffIds[i], path);
                    opened.Add(file);
                    redirect[stack.Blobs[i]] = file;
                    deviceFiles.Add(file.FilePath);
                    devices.Add(new ErofsDevice(file, ErofsDeviceMode.External) { Tag = Tag(diffIds[i]) });
                }
                source = new BlobRedirectFileSystem(tree, redirect);
            }
            else
            {
                foreach (int i in layers)
                    devices.Add(new ErofsDevice(stack.Blobs[i], ErofsDeviceMode.Embedded) { Tag = Tag(diffIds[i]), Alignment = TarAlignment });
            }

            using var output = new AtomicFile(path);
            var written = ErofsWriter.Write(source, output.Stream, new ErofsWriterOptions
            {
                BlockSize = BlockSize,
                Devices = devices,
                Progress = progress,
            });
            VerityTreeInfo? verity = null;
            if (options.Mode.WithVerity())
            {
                output.Stream.Flush();
                verity = VerityTree.Write(output.Stream.SafeFileHandle, VerityParameters.For(written.ImageSize), path);
            }
            output.Commit();

            long tarBytes = layers.Sum(i => stack.Blobs[i].Length);
            long files = FileSystemTotalsOf(tree);
            // Inodes, directories, xattrs and copied files; the rest of the disk is the tars and alignment zeros.
            long metadata = options.MetaOnly ? written.ImageSize : (written.MetadataBlocks + written.DataBlocks) * (long)BlockSize;
            return new TarfsDisk(output.FinalPath, layer, verity?.Parameters.End ?? written.ImageSize, metadata, tarBytes, written.PointedFiles, files - written.PointedFiles)
            {
                DeviceFiles = deviceFiles,
                Verity = verity,
            };
        }
        finally
        {
            foreach (var d in opened) d.Dispose();
        }
    }

    /// <summary>Distinct non-empty regular files (what could be pointed at).</summary>
    static long FileSystemTotalsOf(IReadOnlyFileSystem tree) =>
        tree.Walk().Where(e => e.IsRegular && e.Size > 0).Select(e => e.Inode).Distinct().LongCount();

    /// <summary>The layer's diff_id; a lone tar has none in a config, so it is computed (the digest of the uncompressed tar).</summary>
    static string DiffId(LayerStack stack, int index)
    {
        if (stack.Layers[index].DiffId is { } known) return known;
        using var s = stack.Blobs[index].OpenSequential();
        return "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(s));
    }

    /// <summary>The device tag: the layer's diff_id hex (the snapshotter names its blobs by digest), 64 bytes.</summary>
    static string Tag(string digest)
    {
        var hex = digest.Contains(':') ? digest[(digest.IndexOf(':') + 1)..] : digest;
        return hex.Length > 64 ? hex[..64] : hex;
    }

    /// <summary>
    /// The layer's uncompressed tar as a file a loop device can show: the layer itself when it is an
    /// uncompressed file (or a window of an archive: the device is then the whole archive file), else a copy
    /// written beside the metadata (<c>NN-&lt;diffid12&gt;.layer.tar</c>).
    /// </summary>
    static FileBlob TarFile(LayerStack stack, int index, string diffId, string metaPath)
    {
        var blob = stack.Blobs[index];
        if (blob.Compression == LayerCompression.None && stack.Source.Layers[index].Locate() is { } window && window.Length == blob.Length)
            return new FileBlob(Path.GetFullPath(window.File), window.Offset, window.Length, blob.Description);
        var dir = Path.GetDirectoryName(Path.GetFullPath(metaPath))!;
        var name = LayerFileName.For(index, stack.Layers.Count, diffId, "layer.tar");
        var path = Path.Combine(dir, name);
        using (var file = new AtomicFile(path))
        {
            using (var s = blob.OpenSequential()) s.CopyTo(file.Stream, 1 << 20);
            if (file.Stream.Length != blob.Length) throw new ZarFormatException($"{blob.Description}: {file.Stream.Length} bytes read, {blob.Length} expected");
            file.Commit();
        }
        return new FileBlob(path, description: blob.Description);
    }
}

/// <summary>A tree whose file data is read from other blobs holding the same bytes at the same offsets (a layer's tar as a file of its own).</summary>
sealed class BlobRedirectFileSystem(IReadOnlyFileSystem inner, IReadOnlyDictionary<IBlob, IBlob> redirect) : IReadOnlyFileSystem
{
    public string Description => inner.Description;
    public Entry Root => inner.Root;
    public Entry? Lookup(string path) => inner.Lookup(path);
    public Entry? Lookup(Entry directory, string name) => inner.Lookup(directory, name);
    public IEnumerable<Entry> List(Entry directory) => inner.List(directory);
    public IEnumerable<Entry> Walk() => inner.Walk();

    public FileData GetData(Entry file)
    {
        var data = inner.GetData(file);
        if (!data.Segments.Any(s => redirect.ContainsKey(s.Blob))) return data;
        return new FileData(data.Size, data.Segments.Select(s => redirect.TryGetValue(s.Blob, out var to) ? s with { Blob = to } : s));
    }

    public int Read(Entry file, long offset, Span<byte> destination) => inner.Read(file, offset, destination);
    public void Dispose() { }
}
