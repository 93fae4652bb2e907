using System.Security.Cryptography;
using System.Text.Json;
using Zar.Tests.Sources.Images;
using Zar.Tests.Sources.Layers;

namespace Zar.Tests.Consumers.Cfs;

/// <summary>
/// A four-layer OCI layout for the CFS tests: plain, gzip, zstd and plain layers with whiteouts, an opaque
/// directory, a re-created directory, hardlinks, a duplicate layer, and a config whose runtime fields need
/// Dockerfile quoting.
/// </summary>
public sealed class CfsTestImage
{
    public const string Created = "2024-01-02T03:04:05Z";
    public required string Layout { get; init; }
    public string Reference => $"oci:{Layout}:v1";
    public required List<byte[]> Tars { get; init; }
    public required List<string> DiffIds { get; init; }
    public required byte[] Config { get; init; }

    public static readonly string[] Env =
    [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "GREETING=hello \"world\" $HOME \\ end",
        "EMPTY=",
        "LANG=C.UTF-8",
    ];

    public static List<byte[]> Layers()
    {
        var layers = ImageFixtures.SampleLayers();
        var l4 = new LayerTarBuilder()
            .Whiteout("usr/bin", "tool").Dir("var/cache").File("var/cache/fresh", "new in 4")
            .Whiteout("", "owned").File("etc/motd", "welcome\n", mtime: new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero))
            .Hardlink("etc/motd.link", "etc/motd");
        layers.Add(l4.Build());
        return layers;
    }

    public static CfsTestImage Write(string layout)
    {
        var tars = Layers();
        var comps = new[] { Compression.None, Compression.Gzip, Compression.Zstd, Compression.None };
        var diffIds = tars.Select(ImageFixtures.Sha).ToList();
        var config = ImageFixtures.Json(new Dictionary<string, object>
        {
            ["created"] = Created,
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new Dictionary<string, object>
            {
                ["User"] = "1000:100",
                ["Env"] = Env,
                ["Entrypoint"] = new[] { "/usr/bin/tool", "--flag=a b" },
                ["Cmd"] = new[] { "--help", "quote\"d" },
                ["WorkingDir"] = "/srv/my app",
                ["ExposedPorts"] = new Dictionary<string, object> { ["8080/tcp"] = new { }, ["53/udp"] = new { } },
                ["Volumes"] = new Dictionary<string, object> { ["/var/log"] = new { }, ["/data"] = new { } },
                ["Labels"] = new Dictionary<string, string>
                {
                    ["org.opencontainers.image.title"] = "zar-test",
                    ["com.example.note"] = "it's \"quoted\" $x",
                },
                ["StopSignal"] = "SIGTERM",
            },
            ["rootfs"] = new Dictionary<string, object> { ["type"] = "layers", ["diff_ids"] = diffIds },
            ["history"] = new[] { new { created_by = "test" } },
        });
        var layerDescs = new List<object>();
        for (int i = 0; i < tars.Count; i++)
        {
            var blob = Compress.Apply(tars[i], comps[i]);
            layerDescs.Add(Descriptor(ImageFixtures.MediaType(comps[i]), Put(layout, blob), blob.Length));
        }
        var manifest = ImageFixtures.Json(new Dictionary<string, object>
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = ImageFixtures.OciManifestType,
            ["config"] = Descriptor(ImageFixtures.OciConfigType, Put(layout, config), config.Length),
            ["layers"] = layerDescs,
        });
        var md = Put(layout, manifest);
        ImageFixtures.WriteLayoutFiles(layout, new[]
        {
            new Dictionary<string, object>
            {
                ["mediaType"] = ImageFixtures.OciManifestType, ["digest"] = md, ["size"] = manifest.Length,
                ["annotations"] = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = "v1" },
            },
        });
        return new CfsTestImage { Layout = layout, Tars = tars, DiffIds = diffIds, Config = config };
    }

    static Dictionary<string, object> Descriptor(string mediaType, string digest, long size) =>
        new() { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };

    static string Put(string root, byte[] bytes)
    {
        var d = ImageFixtures.Sha(bytes);
        Directory.CreateDirectory(Path.Combine(root, "blobs", "sha256"));
        File.WriteAllBytes(Path.Combine(root, "blobs", "sha256", ImageFixtures.Hex(d)), bytes);
        return d;
    }

    /// <summary>The layer file names the generator must use, derived here from the tars' own sha256.</summary>
    public List<string> ExpectedFileNames() =>
        DiffIds.Select((d, i) => $"{i + 1:D2}-{ImageFixtures.Hex(d)[..12]}.zar").ToList();

    public static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
    }

    public static JsonElement ParseJson(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
