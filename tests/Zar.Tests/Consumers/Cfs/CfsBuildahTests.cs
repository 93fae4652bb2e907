using System.Text.Json;
using Zar.Consumers.Cfs;
using Zar.Tests.Support;

namespace Zar.Tests.Consumers.Cfs;

/// <summary>The generated Dockerfile built by a real Dockerfile builder (buildah, daemonless, vfs storage).</summary>
public class CfsBuildahTests
{
    static readonly string[] RuntimeFields = ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"];

    [Fact]
    public void BuildahBuildsTheDockerfileIntoTheSameRuntimeConfigAndFiles()
    {
        Tools.RequireRoot();
        Tools.Require("buildah");
        Tools.Require("umoci");
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var result = CfsGenerator.Generate(img.Reference, t["dest"]);
        string[] storage = ["--root", t["storage"], "--runroot", t["run"], "--storage-driver", "vfs"];
        var bud = Tools.Run("buildah", [.. storage, "bud", "--format", "oci", "--layers=false", "-t", "cfs-test", "-f", result.DockerfilePath, result.Directory]);
        Assert.True(bud.Code == 0, $"buildah bud: {bud.Err}");
        var push = Tools.Run("buildah", [.. storage, "push", "cfs-test", $"oci:{t["built"]}:latest"]);
        Assert.True(push.Code == 0, $"buildah push: {push.Err}");

        var inspect = Tools.Run(Tools.Require("skopeo"), ["inspect", "--config", $"oci:{t["built"]}:latest"]);
        Assert.True(inspect.Code == 0, inspect.Err);
        var built = CfsTestImage.ParseJson(inspect.Out).GetProperty("config");
        var ours = CfsTestImage.ParseJson(System.Text.Encoding.UTF8.GetString(CfsOciImage.Build(result).Config)).GetProperty("config");
        var source = CfsTestImage.ParseJson(System.Text.Encoding.UTF8.GetString(img.Config)).GetProperty("config");
        foreach (var field in RuntimeFields)
        {
            var expected = Canonical(source.GetProperty(field), field);
            Assert.Equal(expected, Canonical(built.GetProperty(field), field));
            Assert.Equal(expected, Canonical(ours.GetProperty(field), field));
        }

        // The built root filesystem holds the layer images as they are (plus the directory WORKDIR creates).
        var unpack = Tools.Run("umoci", ["unpack", "--image", $"{t["built"]}:latest", t["bundle"]]);
        Assert.True(unpack.Code == 0, unpack.Err);
        var rootfs = t["bundle/rootfs"];
        var entries = Directory.EnumerateFileSystemEntries(rootfs, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(rootfs, p)).Order(StringComparer.Ordinal);
        Assert.Equal(result.Layers.Select(l => l.FileName).Concat(["srv", "srv/my app"]).Order(StringComparer.Ordinal), entries);
        foreach (var l in result.Layers)
            Assert.True(File.ReadAllBytes(l.Path).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(rootfs, l.FileName))), $"{l.FileName} differs");
    }

    /// <summary>The field as comparable JSON: object keys sorted, buildah's own version label dropped.</summary>
    static string Canonical(JsonElement e, string field)
    {
        if (e.ValueKind != JsonValueKind.Object) return JsonSerializer.Serialize(e);
        var props = e.EnumerateObject().Where(p => !(field == "Labels" && p.Name == "io.buildah.version"))
            .OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => JsonSerializer.Serialize(p.Name) + ":" + JsonSerializer.Serialize(p.Value));
        return "{" + string.Join(",", props) + "}";
    }
}
