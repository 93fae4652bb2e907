using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Images;

/// <summary>Hand-built image layouts and archives (the shapes docker save, moby v25, containerd and skopeo write).</summary>
public static class ImageFixtures
{
    public const string OciManifestType = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndexType = "application/vnd.oci.image.index.v1+json";
    public const string OciConfigType = "application/vnd.oci.image.config.v1+json";

    public static string Sha(byte[] b) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(b));
    public static string Hex(string digest) => digest[7..];
    public static byte[] Json(object o) => JsonSerializer.SerializeToUtf8Bytes(o);

    /// <summary>Three layers: a base tree, deletions (whiteout, opaque dir, replacement), and the base again
    /// (a duplicate diff_id, which legacy docker save stores as a symlinked layer.tar).</summary>
    public static List<byte[]> SampleLayers()
    {
        var l1 = new LayerTarBuilder()
            .Dir("etc").File("etc/os-release", "ID=zar\n").File("etc/hosts", "127.0.0.1 localhost\n")
            .Dir("usr/bin", mode: 0x1ED).File("usr/bin/tool", "#!/bin/sh\necho hi\n", mode: 0x1ED).Symlink("bin", "usr/bin")
            .Dir("var/cache").File("var/cache/a", "a").File("var/cache/b", "b").File("owned", "o", uid: 1000, gid: 100)
            .File("data/x", "x").Hardlink("data/y", "data/x");
        var l2 = new LayerTarBuilder()
            .Whiteout("etc", "hosts").Opaque("var/cache").File("var/cache/c", "c").File("owned", "replaced", mode: 0x180)
            .File("bin/extra", "through the bin symlink");
        return new List<byte[]> { l1.Build(), l2.Build(), l1.Build() };
    }

    public static byte[] Config(IEnumerable<string> diffIds, string arch = "amd64") => Json(new Dictionary<string, object>
    {
        ["architecture"] = arch,
        ["os"] = "linux",
        ["created"] = "2024-01-02T03:04:05Z",
        ["config"] = new Dictionary<string, object>
        {
            ["User"] = "1000:100",
            ["Env"] = new[] { "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8" },
            ["Entrypoint"] = new[] { "/usr/bin/tool" },
            ["Cmd"] = new[] { "--help" },
            ["WorkingDir"] = "/data",
            ["ExposedPorts"] = new Dictionary<string, object> { ["8080/tcp"] = new { }, ["53/udp"] = new { } },
            ["Volumes"] = new Dictionary<string, object> { ["/data"] = new { } },
            ["Labels"] = new Dictionary<string, string> { ["org.opencontainers.image.title"] = "zar-test" },
            ["StopSignal"] = "SIGTERM",
        },
        ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds.ToArray() },
        ["history"] = new[] { new { created_by = "test" } },
    });

    public static string MediaType(Compression c) => c switch
    {
        Compression.Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression.Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    };

    static string PutBlob(string root, byte[] bytes)
    {
        var d = Sha(bytes);
        Directory.CreateDirectory(Path.Combine(root, "blobs", "sha256"));
        File.WriteAllBytes(Path.Combine(root, "blobs", "sha256", Hex(d)), bytes);
        return d;
    }

    static object Descriptor(string mediaType, byte[] bytes, object? platform = null, Dictionary<string, string>? annotations = null)
    {
        var d = new Dictionary<string, object> { ["mediaType"] = mediaType, ["digest"] = Sha(bytes), ["size"] = bytes.Length };
        if (platform != null) d["platform"] = platform;
        if (annotations != null) d["annotations"] = annotations;
        return d;
    }

    /// <summary>Writes an image (manifest + config + layer blobs) into an OCI layout root; returns (manifest bytes, compressed blob paths).</summary>
    public static (byte[] Manifest, List<string> LayerBlobs, byte[] ConfigBytes) PutImage(string root, IReadOnlyList<byte[]> tars, Compression[] comps, string arch = "amd64", string? lieAboutMediaType = null)
    {
        var diffIds = tars.Select(Sha).ToList();
        var config = Config(diffIds, arch);
        PutBlob(root, config);
        var layerDescs = new List<object>();
        var paths = new List<string>();
        for (int i = 0; i < tars.Count; i++)
        {
            var blob = Compress.Apply(tars[i], comps[i]);
            var d = PutBlob(root, blob);
            paths.Add($"blobs/sha256/{Hex(d)}");
            layerDescs.Add(Descriptor(lieAboutMediaType ?? MediaType(comps[i]), blob));
        }
        var manifest = Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2, ["mediaType"] = OciManifestType,
            ["config"] = Descriptor(OciConfigType, config), ["layers"] = layerDescs,
        });
        PutBlob(root, manifest);
        return (manifest, paths, config);
    }

    public static void WriteLayoutFiles(string root, IEnumerable<object> indexManifests)
    {
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllBytes(Path.Combine(root, "index.json"), Json(new { schemaVersion = 2, mediaType = OciIndexType, manifests = indexManifests }));
    }

    /// <summary>An OCI layout with one tagged image (what skopeo/umoci write).</summary>
    public static void OciLayout(string root, IReadOnlyList<byte[]> tars, Compression[] comps, string tag = "latest")
    {
        var (manifest, _, _) = PutImage(root, tars, comps);
        WriteLayoutFiles(root, new[] { Descriptor(OciManifestType, manifest, annotations: new() { ["org.opencontainers.image.ref.name"] = tag }) });
    }

    /// <summary>
    /// An OCI layout whose index.json points at a multi-platform index (amd64 and arm64 images plus a buildx
    /// attestation), optionally behind a second index level; the s390x manifest blob is missing as in
    /// containerd exports.
    /// </summary>
    public static void MultiPlatformLayout(string root, IReadOnlyList<byte[]> amd64, IReadOnlyList<byte[]> arm64, bool nested)
    {
        var (mAmd, _, _) = PutImage(root, amd64, amd64.Select(_ => Compression.Gzip).ToArray(), "amd64");
        var (mArm, _, _) = PutImage(root, arm64, arm64.Select(_ => Compression.Zstd).ToArray(), "arm64");
        var missing = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"layers":[]}""");
        var attestation = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}""");
        PutBlob(root, attestation);
        var index = Json(new
        {
            schemaVersion = 2, mediaType = OciIndexType,
            manifests = new[]
            {
                Descriptor(OciManifestType, attestation, new { architecture = "unknown", os = "unknown" }, new() { ["vnd.docker.reference.type"] = "attestation-manifest" }),
                Descriptor(OciManifestType, missing, new { architecture = "s390x", os = "linux" }),
                Descriptor(OciManifestType, mArm, new { architecture = "arm64", os = "linux", variant = "v8" }),
                Descriptor(OciManifestType, mAmd, new { architecture = "amd64", os = "linux" }),
            },
        });
        PutBlob(root, index);
        var top = index;
        if (nested)
        {
            top = Json(new { schemaVersion = 2, mediaType = OciIndexType, manifests = new[] { Descriptor(OciIndexType, index) } });
            PutBlob(root, top);
        }
        WriteLayoutFiles(root, new[] { Descriptor(OciIndexType, top, annotations: new() { ["org.opencontainers.image.ref.name"] = "multi", ["io.containerd.image.name"] = "docker.io/zar/multi:1" }) });
    }

    /// <summary>Legacy docker save (moby ≤ 24): &lt;id&gt;/layer.tar files, a duplicate layer as a symlink.</summary>
    public static string LegacyDockerArchive(TempDir t, IReadOnlyList<byte[]> tars, string name = "legacy.tar", Compression[]? disguise = null)
    {
        var stage = t["stage-" + name];
        Directory.CreateDirectory(stage);
        var diffIds = tars.Select(Sha).ToList();
        var config = Config(diffIds);
        File.WriteAllBytes(Path.Combine(stage, Hex(Sha(config)) + ".json"), config);
        var layers = new List<string>();
        var firstId = new Dictionary<string, string>();
        for (int i = 0; i < tars.Count; i++)
        {
            var id = Hex(Sha(Encoding.UTF8.GetBytes($"v1-{i}-{diffIds[i]}")));
            var dir = Path.Combine(stage, id);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "VERSION"), "1.0");
            File.WriteAllText(Path.Combine(dir, "json"), $$"""{"id":"{{id}}"}""");
            if (firstId.TryGetValue(diffIds[i], out var first))
                File.CreateSymbolicLink(Path.Combine(dir, "layer.tar"), $"../{first}/layer.tar");
            else
            {
                // A "layer.tar" that is really compressed: readers must trust the magic bytes, not the name.
                File.WriteAllBytes(Path.Combine(dir, "layer.tar"), Compress.Apply(tars[i], disguise?[i] ?? Compression.None));
                firstId[diffIds[i]] = id;
            }
            layers.Add($"{id}/layer.tar");
        }
        File.WriteAllBytes(Path.Combine(stage, "manifest.json"), Json(new[] { new { Config = Hex(Sha(config)) + ".json", RepoTags = new[] { "zar/test:1" }, Layers = layers } }));
        File.WriteAllText(Path.Combine(stage, "repositories"), "{\"zar/test\":{\"1\":\"" + layers[^1][..64] + "\"}}");
        return Pack(t, stage, name);
    }

    /// <summary>moby v25+ (OCI-shaped, uncompressed blobs) or containerd (original compressed blobs behind a platform index).</summary>
    public static string OciShapedDockerArchive(TempDir t, IReadOnlyList<byte[]> tars, Compression[] comps, string name, bool containerdIndex)
    {
        var stage = t["stage-" + name];
        Directory.CreateDirectory(stage);
        var (manifest, layerPaths, config) = PutImage(stage, tars, comps, lieAboutMediaType: containerdIndex ? "application/vnd.docker.image.rootfs.diff.tar" : null);
        var ann = new Dictionary<string, string> { ["io.containerd.image.name"] = "docker.io/zar/test:1", ["org.opencontainers.image.ref.name"] = "1" };
        if (containerdIndex)
        {
            var other = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"note":"not saved"}""");
            var index = Json(new
            {
                schemaVersion = 2, mediaType = OciIndexType,
                manifests = new[]
                {
                    Descriptor(OciManifestType, other, new { architecture = "arm64", os = "linux" }),
                    Descriptor(OciManifestType, manifest, new { architecture = "amd64", os = "linux" }),
                },
            });
            PutBlob(stage, index);
            WriteLayoutFiles(stage, new[] { Descriptor(OciIndexType, index, annotations: ann) });
        }
        else WriteLayoutFiles(stage, new[] { Descriptor(OciManifestType, manifest, annotations: ann) });
        File.WriteAllBytes(Path.Combine(stage, "manifest.json"), Json(new[] { new { Config = $"blobs/sha256/{Hex(Sha(config))}", RepoTags = new[] { "zar/test:1" }, Layers = layerPaths } }));
        return Pack(t, stage, name);
    }

    /// <summary>A tar of a staging directory with archive-relative names (no "./"), as docker save writes.</summary>
    public static string Pack(TempDir t, string stage, string name)
    {
        var names = Directory.EnumerateFileSystemEntries(stage).Select(Path.GetFileName).OrderBy(x => x, StringComparer.Ordinal);
        Tools.Sh($"tar -C {Materialize.Q(stage)} -cf {Materialize.Q(t[name])} {string.Join(' ', names.Select(n => Materialize.Q(n!)))}");
        return t[name];
    }

    public static List<string> WriteLayerFiles(TempDir t, IReadOnlyList<byte[]> tars, string prefix = "plain")
    {
        var list = new List<string>();
        for (int i = 0; i < tars.Count; i++) { var f = t[$"{prefix}{i}.tar"]; File.WriteAllBytes(f, tars[i]); list.Add(f); }
        return list;
    }
}
