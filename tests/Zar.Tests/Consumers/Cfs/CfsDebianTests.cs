using Zar.Consumers;
using Zar.Consumers.Cfs;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Sources.Host;
using Zar.Overlay;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Support;
using Zar.Sources;

namespace Zar.Tests.Consumers.Cfs;

/// <summary>The generator on the Debian corpus image (scripts' make-debian-image.sh output), when this machine has it.</summary>
[Trait("Category", "Long")]
public sealed class CfsDebianTests(ITestOutputHelper output)
{

    [Fact]
    public void DebianLayerImagesStackToTheMergedImage()
    {
        var corpus = Tools.RequireCorpus();
        Tools.RequireRoot();
        using var t = new TempDir();
        var reference = $"oci:{corpus}:latest";
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = CfsGenerator.Generate(reference, t["dest"]);
        output.WriteLine($"generate: {sw.Elapsed.TotalSeconds:F1} s, {string.Join(", ", result.Layers.Select(l => $"{l.FileName} {l.ZarSize >> 20} MiB"))}");
        using var stack = SourceOpener.OpenStack(reference);
        var mounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            foreach (var layer in result.Layers)
            {
                var erofs = t[$"{layer.Index}.erofs"];
                using (var zar = ZarImage.Open(layer.Path))
                {
                    // Each layer image holds exactly the layer's tree, whiteouts included.
                    var same = Differ.Compare(stack.GetLayer(layer.Index, WhiteoutFormat.Aufs), zar);
                    Assert.True(same.Count == 0, $"{layer.FileName}: {Differ.Render(same.Take(20))}");
                    ErofsWriter.Write(new OverlayFormView(zar), erofs);
                }
                var m = Mount.Erofs(erofs, t[$"mnt/{layer.Index}"]);
                mounts.Add(m);
                lowers.Insert(0, m.Path);
            }
            var merged = Mount.Overlay(lowers, t["merged"]);
            mounts.Add(merged);
            using var kernel = new HostDirectory(merged.Path);
            var diffs = Differ.Compare(stack.Merged, kernel, new DiffOptions { IgnoreRootAttributes = true, IgnoreOverlayXattrs = true });
            Assert.True(diffs.Count == 0, Differ.Render(diffs.Take(20)));
            Assert.True(stack.Merged.Walk().Count() > 5000);
        }
        finally
        {
            for (int i = mounts.Count - 1; i >= 0; i--) mounts[i].Dispose();
        }
    }
}
