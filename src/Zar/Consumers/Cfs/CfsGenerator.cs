using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Zar.Formats.Zar;
using Zar.IO;
using Zar.Model;
using Zar.Overlay;
using Zar.Oci;
using Zar.Sources;
using Zar.Sources.Images;
using Zar.Sources.Layers;

namespace Zar.Consumers.Cfs;

public sealed class CfsOptions
{
    public ZarWriterOptions? Zar { get; init; }
    /// <summary>Used when the generator opens the image itself (platform, registry) and to scan layers (<see cref="OpenOptions.Stack"/>).</summary>
    public OpenOptions? Open { get; init; }
    /// <summary>Receives one line per layer written.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>One per-layer zar image of a CFS output directory.</summary>
public sealed record CfsLayer(
    int Index,
    /// <summary>File name in the output directory ("01-0123456789ab.zar").</summary>
    string FileName,
    string Path,
    /// <summary>The source layer's diff_id (uncompressed tar digest), null when the source had none.</summary>
    string? DiffId,
    /// <summary>The source layer blob's digest, null when unknown.</summary>
    string? SourceDigest,
    /// <summary>sha256 of the zar file.</summary>
    string ZarDigest,
    long ZarSize,
    /// <summary>sha256 of the one-file tar holding the zar image: the CFS image's layer digest and diff_id.</summary>
    string TarDigest,
    long TarSize,
    long Entries,
    /// <summary>Size of the source layer's uncompressed tar.</summary>
    long SourceTarSize);

/// <summary>What <see cref="CfsGenerator.Generate(LayerStack, string, CfsOptions?)"/> wrote.</summary>
public sealed class CfsResult
{
    public required string Directory { get; init; }
    public required IReadOnlyList<CfsLayer> Layers { get; init; }
    public required ImageConfig SourceConfig { get; init; }
    public required string SourceDescription { get; init; }
    public string? SourceManifestDigest { get; init; }
    /// <summary>Modification time of the zar files inside the CFS image's layer tars (the source's created time, or 0).</summary>
    public long TarMtime { get; init; }
    public required string DockerfilePath { get; init; }
    public required string ManifestPath { get; init; }
    public required string ConfigPath { get; init; }
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
    /// <summary>Stale layer images of an earlier run that were removed from the directory.</summary>
    public IReadOnlyList<string> Removed { get; init; } = Array.Empty<string>();
}

/// <summary>
/// The ContainerFS generator: turns an image into a directory of per-layer zar images (whiteouts kept as
/// OCI whiteout files so a stack can apply them), a Dockerfile that ADDs them onto scratch, a layer-order
/// manifest and the source config; <see cref="CfsOciImage"/> turns the result into an OCI image without Docker.
/// </summary>
public static partial class CfsGenerator
{
    public const string DockerfileName = "Dockerfile";
    public const string ManifestName = "cfs-manifest.json";
    public const string ConfigName = "config.json";

    // Layer images, and the name a digest-less layer has between being written and being named.
    [GeneratedRegex("^[0-9]{2,}-([0-9a-f]{12}|pending)\\.zar$")]
    private static partial Regex LayerFilePattern();

    /// <summary>Opens an image reference (any spec <see cref="SourceOpener"/> opens as a stack) and generates from it.</summary>
    public static CfsResult Generate(string imageReference, string destDir, CfsOptions? options = null)
    {
        options ??= new CfsOptions();
        using var stack = SourceOpener.OpenStack(imageReference, options.Open);
        return Generate(stack, destDir, options);
    }

    public static CfsResult Generate(IImageSource source, string destDir, CfsOptions? options = null)
    {
        options ??= new CfsOptions();
        using var stack = LayerStack.Open(source, options.Open?.Stack);
        return Generate(stack, destDir, options);
    }

    public static CfsResult Generate(LayerStack stack, string destDir, CfsOptions? options = null)
    {
        options ??= new CfsOptions();
        if (File.Exists(destDir)) throw new ZarException($"{destDir}: exists and is not a directory");
        Directory.CreateDirectory(destDir);
        var dest = Path.GetFullPath(destDir);
        var config = stack.Config;
        int count = stack.Layers.Count;
        long mtime = CreatedSeconds(config.Created);
        var warnings = new List<string>(stack.Warnings);
        var layers = new List<CfsLayer>();
        for (int i = 0; i < count; i++)
        {
            var info = stack.Layers[i];
            var fs = stack.GetLayer(i, WhiteoutFormat.Aufs);
            // A layer the source gives no digest for (a bare tar) is named after its zar image, known only once written.
            string? idDigest = info.DiffId ?? info.Digest;
            using var file = new AtomicFile(Path.Combine(dest, idDigest != null ? FileName(i, count, idDigest) : $"{LayerFileName.Prefix(i, count)}-pending.zar"));
            var written = ZarBuilder.Write(fs, file.Stream, options.Zar);
            var (zarDigest, size, tarDigest) = idDigest != null
                ? Hash(file.Stream, FileName(i, count, idDigest), mtime)
                : Hash(file.Stream, null, mtime);
            var name = FileName(i, count, idDigest ?? zarDigest);
            tarDigest ??= Hash(file.Stream, name, mtime).TarDigest!;
            file.Commit();
            var path = Path.Combine(dest, name);
            if (file.FinalPath != path) File.Move(file.FinalPath, path, overwrite: true);
            layers.Add(new CfsLayer(i, name, path, info.DiffId, info.Digest, zarDigest, size, tarDigest,
                SingleFileTar.ArchiveSize(size), written.EntryCount, info.TarBytes));
            options.Log?.Invoke($"{name}: layer {i + 1}/{count}, {written.EntryCount} entries, {size} bytes");
        }

        var keep = layers.Select(l => l.FileName).ToHashSet(StringComparer.Ordinal);
        var removed = new List<string>();
        foreach (var stale in System.IO.Directory.EnumerateFiles(dest).Select(Path.GetFileName).OfType<string>()
                     .Where(n => LayerFilePattern().IsMatch(n) && !keep.Contains(n)).Order(StringComparer.Ordinal))
        {
            // A layer image left from an earlier run would break "sorted names = layer order".
            File.Delete(Path.Combine(dest, stale));
            removed.Add(stale);
        }

        var dockerfile = CfsDockerfile.Build(layers.Select(l => l.FileName), config, warnings);
        var dockerfilePath = Path.Combine(dest, DockerfileName);
        WriteAtomic(dockerfilePath, System.Text.Encoding.UTF8.GetBytes(dockerfile));
        var configPath = Path.Combine(dest, ConfigName);
        WriteAtomic(configPath, config.Json);
        var result = new CfsResult
        {
            Directory = dest,
            Layers = layers,
            SourceConfig = config,
            SourceDescription = stack.Source.Description,
            SourceManifestDigest = stack.Source.ManifestDigest,
            TarMtime = mtime,
            DockerfilePath = dockerfilePath,
            ManifestPath = Path.Combine(dest, ManifestName),
            ConfigPath = configPath,
            Warnings = warnings,
            Removed = removed,
        };
        WriteAtomic(result.ManifestPath, ManifestJson(result));
        return result;
    }

    static string FileName(int index, int count, string digest) => LayerFileName.For(index, count, digest, "zar");

    /// <summary>The config's created time in Unix seconds; 0 when absent, unparsable or before 1970.</summary>
    public static long CreatedSeconds(string? created) =>
        created != null && DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? Math.Max(0, t.ToUnixTimeSeconds()) : 0;

    /// <summary>
    /// One read of the written zar image gives its sha256 and, when its name is known, the sha256 of the one-file
    /// tar around it (the CFS image's layer digest, see <see cref="SingleFileTar"/>).
    /// </summary>
    static (string ZarDigest, long Size, string? TarDigest) Hash(Stream zar, string? tarMemberName, long mtime)
    {
        zar.Flush();
        long size = zar.Length;
        zar.Position = 0;
        using var zarHash = Digest.CreateSha256Hasher();
        using var tarHash = Digest.CreateSha256Hasher();
        if (tarMemberName != null) tarHash.AppendData(SingleFileTar.Header(tarMemberName, size, mtime));
        var buf = new byte[1 << 20];
        int n;
        while ((n = zar.Read(buf)) > 0)
        {
            zarHash.AppendData(buf, 0, n);
            if (tarMemberName != null) tarHash.AppendData(buf, 0, n);
        }
        string? tarDigest = null;
        if (tarMemberName != null)
        {
            tarHash.AppendData(new byte[SingleFileTar.ArchiveSize(size) - SingleFileTar.BlockSize - size]);
            tarDigest = Digest.Finish(tarHash);
        }
        return (Digest.Finish(zarHash), size, tarDigest);
    }

    internal static void WriteAtomic(string path, byte[] bytes)
    {
        using var f = new AtomicFile(path);
        f.Stream.Write(bytes);
        f.Commit();
    }

    static byte[] ManifestJson(CfsResult r)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 1);
            w.WriteStartObject("source");
            w.WriteString("reference", r.SourceDescription);
            if (r.SourceManifestDigest != null) w.WriteString("manifestDigest", r.SourceManifestDigest);
            w.WriteString("configDigest", r.SourceConfig.Digest);
            w.WriteEndObject();
            w.WriteString("dockerfile", DockerfileName);
            w.WriteString("config", ConfigName);
            w.WriteStartArray("layers");
            foreach (var l in r.Layers)
            {
                w.WriteStartObject();
                w.WriteString("file", l.FileName);
                w.WriteNumber("index", l.Index);
                if (l.DiffId != null) w.WriteString("diffId", l.DiffId); else w.WriteNull("diffId");
                if (l.SourceDigest != null) w.WriteString("sourceDigest", l.SourceDigest); else w.WriteNull("sourceDigest");
                w.WriteString("zarSha256", l.ZarDigest);
                w.WriteNumber("size", l.ZarSize);
                w.WriteNumber("entries", l.Entries);
                w.WriteNumber("sourceTarSize", l.SourceTarSize);
                w.WriteString("layerTarDigest", l.TarDigest);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }
}
