using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Zar.Sources.Registry;
using Zar.Oci;

namespace Zar.Tests.Sources.Registry;

/// <summary>A small generated image: gzip layer tars, a config, a manifest — all as exact bytes.</summary>
public sealed class TestImage
{
    public required List<(Descriptor Descriptor, byte[] Bytes)> Layers { get; init; }
    public required Descriptor ConfigDescriptor { get; init; }
    public required byte[] Config { get; init; }
    public required byte[] Manifest { get; init; }
    public required string ManifestMediaType { get; init; }
    public string ManifestDigest => Digest.Sha256(Manifest);

    public IEnumerable<(Descriptor Descriptor, byte[] Bytes)> Blobs => Layers.Append((ConfigDescriptor, Config));

    public static byte[] LayerTarGz(int seed, int fileCount, int fileSize)
    {
        var rnd = new Random(seed);
        var tar = new MemoryStream();
        using (var w = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var dir = new PaxTarEntry(TarEntryType.Directory, $"dir{seed}/") { Mode = (UnixFileMode)0x1ED, ModificationTime = DateTimeOffset.UnixEpoch };
            w.WriteEntry(dir);
            for (int i = 0; i < fileCount; i++)
            {
                var data = new byte[fileSize];
                rnd.NextBytes(data);
                var e = new PaxTarEntry(TarEntryType.RegularFile, $"dir{seed}/file{i}.bin")
                {
                    Mode = (UnixFileMode)0x1A4, ModificationTime = DateTimeOffset.UnixEpoch, DataStream = new MemoryStream(data),
                };
                w.WriteEntry(e);
            }
        }
        var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar.ToArray());
        return gz.ToArray();
    }

    public static TestImage Create(int seed, string os = "linux", string arch = "amd64", string? variant = null, int layers = 2,
        int fileSize = 4096, bool docker = false, bool omitMediaType = false)
    {
        var layerList = new List<(Descriptor, byte[])>();
        var diffIds = new List<string>();
        for (int i = 0; i < layers; i++)
        {
            var bytes = LayerTarGz(seed * 100 + i, 3, fileSize);
            layerList.Add((new Descriptor(docker ? MediaTypes.DockerLayerGzip : MediaTypes.OciLayerGzip, Digest.Sha256(bytes), bytes.Length), bytes));
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            var raw = new MemoryStream();
            gz.CopyTo(raw);
            diffIds.Add(Digest.Sha256(raw.ToArray()));
        }
        var config = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["architecture"] = arch,
            ["os"] = os,
            ["variant"] = variant,
            ["config"] = new Dictionary<string, object> { ["Env"] = new[] { $"SEED={seed}" } },
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds },
        }.Where(kv => kv.Value != null).ToDictionary());
        var configDesc = new Descriptor(docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig, Digest.Sha256(config), config.Length);
        string mt = docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        var manifest = new ImageManifest
        {
            MediaType = omitMediaType ? null : mt,
            Config = configDesc,
            Layers = layerList.Select(l => l.Item1).ToList(),
        }.ToJson();
        return new TestImage { Layers = layerList, ConfigDescriptor = configDesc, Config = config, Manifest = manifest, ManifestMediaType = mt };
    }

    public async Task PushAsync(RegistryClient client, string repo, string tag)
    {
        foreach (var (d, bytes) in Blobs) await client.PushBlobAsync(repo, bytes, d.MediaType!);
        await client.PutManifestAsync(repo, tag, Manifest, ManifestMediaType);
    }

    /// <summary>Writes the image as an OCI image layout directory (for skopeo to copy from).</summary>
    public void WriteOciLayout(string dir, string tag)
    {
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        foreach (var (d, bytes) in Blobs.Append((new Descriptor(ManifestMediaType, ManifestDigest, Manifest.Length), Manifest)))
            File.WriteAllBytes(Path.Combine(dir, "blobs", "sha256", Digest.Encoded(d.Digest)), bytes);
        File.WriteAllText(Path.Combine(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        var index = new ImageIndex
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [new Descriptor(ManifestMediaType, ManifestDigest, Manifest.Length)
                { Annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag } }],
        };
        File.WriteAllBytes(Path.Combine(dir, "index.json"), index.ToJson());
    }
}
