using System.Text;
using System.Text.Json;
using Zar.Consumers;
using Zar.Consumers.Cfs;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Support;
using Zar.Oci;
using Zar.Sources;

namespace Zar.Tests.Consumers.Cfs;

public class CfsGeneratorTests
{
    static List<string> ZarFiles(string dir) =>
        Directory.EnumerateFiles(dir, "*.zar").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void WritesOneZarPerLayerInOrderEqualToTheLayerTrees()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var result = CfsGenerator.Generate(img.Reference, t["dest"]);

        var expected = img.ExpectedFileNames();
        Assert.Equal(expected, ZarFiles(t["dest"]));
        Assert.Equal(expected, result.Layers.Select(l => l.FileName));
        // No temporary files are left behind.
        Assert.Equal(expected.Concat(new[] { "Dockerfile", "cfs-manifest.json", "config.json" }).Order(StringComparer.Ordinal),
            Directory.EnumerateFiles(t["dest"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        using var stack = SourceOpener.OpenStack(img.Reference);
        for (int i = 0; i < expected.Count; i++)
        {
            using var zar = ZarImage.Open(t[$"dest/{expected[i]}"]);
            var diffs = Differ.Compare(stack.GetLayer(i, WhiteoutFormat.Aufs), zar);
            Assert.True(diffs.Count == 0, $"layer {i + 1}: {Differ.Render(diffs)}");
        }
        // The whiteouts are entries of the layer images, as regular files.
        using (var l2 = ZarImage.Open(t[$"dest/{expected[1]}"]))
        {
            Assert.Equal(EntryType.Regular, l2.Stat("etc/.wh.hosts").Type);
            Assert.Equal(EntryType.Regular, l2.Stat("var/cache/.wh..wh..opq").Type);
            Assert.Equal("c", Encoding.UTF8.GetString(l2.ReadAllBytes(l2.Stat("var/cache/c"))));
        }
        using (var l4 = ZarImage.Open(t[$"dest/{expected[3]}"]))
        {
            Assert.NotNull(l4.Lookup("usr/bin/.wh.tool"));
            Assert.NotNull(l4.Lookup(".wh.owned"));
            Assert.Null(l4.Lookup("etc/hosts"));
        }

        // The layer-order manifest describes the files as they are on disk.
        var manifest = CfsTestImage.ParseJson(File.ReadAllText(t["dest/cfs-manifest.json"]));
        var layers = manifest.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(expected.Count, layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            var path = t[$"dest/{expected[i]}"];
            Assert.Equal(expected[i], layers[i].GetProperty("file").GetString());
            Assert.Equal(i, layers[i].GetProperty("index").GetInt32());
            Assert.Equal(img.DiffIds[i], layers[i].GetProperty("diffId").GetString());
            Assert.Equal(CfsTestImage.Sha256File(path), layers[i].GetProperty("zarSha256").GetString());
            Assert.Equal(new FileInfo(path).Length, layers[i].GetProperty("size").GetInt64());
            Assert.StartsWith("sha256:", layers[i].GetProperty("sourceDigest").GetString());
            Assert.Equal(img.Tars[i].Length, layers[i].GetProperty("sourceTarSize").GetInt64());
        }
        Assert.Equal(img.Reference, manifest.GetProperty("source").GetProperty("reference").GetString());
        Assert.Equal(stack.Source.ManifestDigest, manifest.GetProperty("source").GetProperty("manifestDigest").GetString());
        Assert.Equal(img.Config, File.ReadAllBytes(t["dest/config.json"]));
    }

    [Fact]
    public void DockerfileAddsTheLayersAndCarriesTheConfig()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        CfsGenerator.Generate(img.Reference, t["dest"]);
        var names = img.ExpectedFileNames();
        var golden =
            "FROM scratch\n" +
            string.Concat(names.Select(n => $"ADD {n} /\n")) +
            "ENV PATH=\"/usr/local/bin:/usr/bin:/bin\"\n" +
            "ENV GREETING=\"hello \\\"world\\\" \\$HOME \\\\ end\"\n" +
            "ENV EMPTY=\"\"\n" +
            "ENV LANG=\"C.UTF-8\"\n" +
            "LABEL \"com.example.note\"=\"it's \\\"quoted\\\" \\$x\"\n" +
            "LABEL \"org.opencontainers.image.title\"=\"zar-test\"\n" +
            "EXPOSE 53/udp 8080/tcp\n" +
            "VOLUME [\"/data\",\"/var/log\"]\n" +
            "USER 1000:100\n" +
            "WORKDIR \"/srv/my app\"\n" +
            "ENTRYPOINT [\"/usr/bin/tool\",\"--flag=a b\"]\n" +
            "CMD [\"--help\",\"quote\\\"d\"]\n" +
            "STOPSIGNAL SIGTERM\n";
        Assert.Equal(golden, File.ReadAllText(t["dest/Dockerfile"]));
    }

    [Fact]
    public void DockerfileLeavesOutAbsentFields()
    {
        using var t = new TempDir();
        var layer = t["one.tar"];
        File.WriteAllBytes(layer, new Zar.Tests.Sources.Layers.LayerTarBuilder().File("f", "x").Build());
        var result = CfsGenerator.Generate($"tar:{layer}", t["dest"]);
        // A bare layer has no digest or diff_id: the name comes from the zar image's own sha256.
        var name = Assert.Single(result.Layers).FileName;
        Assert.Equal($"01-{CfsTestImage.Sha256File(t[$"dest/{name}"])[7..19]}.zar", name);
        Assert.Equal(new[] { name }, ZarFiles(t["dest"]));
        Assert.Equal($"FROM scratch\nADD {name} /\n", File.ReadAllText(t["dest/Dockerfile"]));
    }

    [Fact]
    public void MoreThan99LayersWidenTheNumber()
    {
        using var t = new TempDir();
        var files = Enumerable.Range(0, 101).Select(i =>
        {
            var path = t[$"l{i}.tar"];
            File.WriteAllBytes(path, new Zar.Tests.Sources.Layers.LayerTarBuilder().File("n", $"layer {i}").File($"only{i}", "x").Build());
            return path;
        }).ToList();
        var result = CfsGenerator.Generate(new Zar.Tests.Sources.Layers.FileLayersSource(files), t["dest"]);
        var names = ZarFiles(t["dest"]);
        Assert.Equal(result.Layers.Select(l => l.FileName), names);
        Assert.Equal(Enumerable.Range(1, 101).Select(i => $"{i:D3}-"), names.Select(n => n[..4]));
        // Sorted by name is bottom to top: the content of each says which layer it is.
        for (int i = 0; i < names.Count; i++)
        {
            using var zar = ZarImage.Open(t[$"dest/{names[i]}"]);
            Assert.Equal($"layer {i}", Encoding.UTF8.GetString(zar.ReadAllBytes(zar.Stat("n"))));
        }
        var adds = File.ReadAllLines(t["dest/Dockerfile"]).Where(l => l.StartsWith("ADD ", StringComparison.Ordinal)).ToList();
        Assert.Equal(names.Select(n => $"ADD {n} /"), adds);
    }

    [Fact]
    public void RerunReplacesFilesAndRemovesStaleLayerImages()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        Directory.CreateDirectory(t["dest"]);
        File.WriteAllText(t["dest/07-0123456789ab.zar"], "stale");
        File.WriteAllText(t["dest/notes.txt"], "mine");
        File.WriteAllText(t["dest/Dockerfile"], "old");
        var first = CfsGenerator.Generate(img.Reference, t["dest"]);
        Assert.Equal(new[] { "07-0123456789ab.zar" }, first.Removed);
        Assert.Equal(img.ExpectedFileNames(), ZarFiles(t["dest"]));
        Assert.Equal("mine", File.ReadAllText(t["dest/notes.txt"]));
        Assert.StartsWith("FROM scratch\n", File.ReadAllText(t["dest/Dockerfile"]));
        var hashes = first.Layers.Select(l => CfsTestImage.Sha256File(l.Path)).ToList();
        var second = CfsGenerator.Generate(img.Reference, t["dest"]);
        Assert.Empty(second.Removed);
        Assert.Equal(hashes, second.Layers.Select(l => CfsTestImage.Sha256File(l.Path)));
    }

    [Fact]
    public void BadInputsFailWithOneLineErrors()
    {
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        File.WriteAllText(t["file"], "x");
        var e = Assert.Throws<ZarException>(() => CfsGenerator.Generate(img.Reference, t["file"]));
        Assert.Contains("not a directory", e.Message);
        // A layer blob that does not match its digest.
        var blob = Directory.EnumerateFiles(t["layout/blobs/sha256"]).First(f => new FileInfo(f).Length == img.Tars[0].Length);
        var bytes = File.ReadAllBytes(blob);
        bytes[700] ^= 1;
        File.WriteAllBytes(blob, bytes);
        var bad = Assert.ThrowsAny<ZarException>(() => CfsGenerator.Generate(img.Reference, t["dest"]));
        Assert.DoesNotContain('\n', bad.Message);
        Assert.False(Directory.Exists(t["dest"]) && ZarFiles(t["dest"]).Count > 0);
    }

    [Fact]
    public void StackedLayerImagesMountToTheMergedImage()
    {
        Tools.RequireRoot();
        Tools.Require("mount");
        using var t = new TempDir();
        var img = CfsTestImage.Write(t["layout"]);
        var result = CfsGenerator.Generate(img.Reference, t["dest"]);
        using var stack = SourceOpener.OpenStack(img.Reference);
        var mounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            foreach (var layer in result.Layers)
            {
                var erofs = t[$"{layer.Index}.erofs"];
                using (var zar = ZarImage.Open(layer.Path))
                    ErofsWriter.Write(new OverlayFormView(zar), erofs);
                var m = Mount.Erofs(erofs, t[$"mnt/{layer.Index}"]);
                mounts.Add(m);
                lowers.Insert(0, m.Path);
            }
            var merged = Mount.Overlay(lowers, t["merged"]);
            mounts.Add(merged);
            using var kernel = new HostDirectory(merged.Path);
            var diffs = Differ.Compare(stack.Merged, kernel, new DiffOptions { IgnoreRootAttributes = true, IgnoreOverlayXattrs = true });
            Assert.True(diffs.Count == 0, Differ.Render(diffs));
            // The whiteouts took effect (the comparison is not between two empty trees).
            var names = kernel.Walk().Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
            Assert.DoesNotContain("usr/bin/tool", names);
            Assert.DoesNotContain("owned", names);
            Assert.Contains("etc/hosts", names);      // whited out by layer 2, back in layer 3
            Assert.Contains("var/cache/c", names);
            Assert.Contains("var/cache/fresh", names);
            Assert.Contains("var/cache/a", names);
            Assert.Contains("etc/motd.link", names);
        }
        finally
        {
            for (int i = mounts.Count - 1; i >= 0; i--) mounts[i].Dispose();
        }
    }
}

public class CfsDockerfileTests
{
    [Fact]
    public void ValuesADockerfileCannotHoldBecomeCommentsAndWarnings()
    {
        var config = ImageConfig.Parse(Encoding.UTF8.GetBytes("""
            {"architecture":"amd64","os":"linux",
             "config":{"Env":["A=one\ntwo","B=ok","NOVALUE"],"Labels":{"l":"x\r\ny"},"Entrypoint":[],"Cmd":null,"WorkingDir":""},
             "rootfs":{"type":"layers","diff_ids":[]}}
            """), "test config");
        var warnings = new List<string>();
        var text = CfsDockerfile.Build(["01-aaaaaaaaaaaa.zar"], config, warnings);
        Assert.Equal(
            "FROM scratch\n" +
            "ADD 01-aaaaaaaaaaaa.zar /\n" +
            "# ENV A left out: a newline or an empty name cannot be written in a Dockerfile; the OCI output keeps it\n" +
            "ENV B=\"ok\"\n" +
            "ENV NOVALUE=\"\"\n" +
            "# LABEL l left out: a newline or an empty key cannot be written in a Dockerfile; the OCI output keeps it\n" +
            "ENTRYPOINT []\n", text);
        Assert.Equal(2, warnings.Count);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("two words", "\"two words\"")]
    [InlineData("$HOME", "\"\\$HOME\"")]
    [InlineData("a\\b", "\"a\\\\b\"")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("", "\"\"")]
    public void WordsAreQuotedOnlyWhenTheLexerWouldInterpretThem(string value, string expected) =>
        Assert.Equal(expected, CfsDockerfile.Word(value));
}
