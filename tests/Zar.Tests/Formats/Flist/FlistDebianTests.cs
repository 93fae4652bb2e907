using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Host;
using Zar.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Flist;

/// <summary>The Debian corpus image (shared/corpus/make-debian-image.sh) as an flist on sharded, replicated dir stores.</summary>
[Trait("Category", "Long")]
public sealed class FlistDebianTests(ITestOutputHelper output)
{
    [Fact]
    public void DebianImageOnShardedReplicatedStoresExtractsToTheMergedTree()
    {
        var corpus = Tools.RequireCorpus();
        Tools.RequireRoot();
        using var t = new TempDir();
        var reference = $"oci:{corpus}:latest";
        string low = t["low"], high = t["high"], replica = t["replica"];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = ZarCli.Run("flist", reference, "-s", "00-7f=dir://" + low, "-s", "80-ff=dir://" + high, "-s", "dir://" + replica, "-o", t["debian.fl"]);
        Assert.True(r.Code == 0, r.Err);
        output.WriteLine($"flist: {sw.Elapsed.TotalSeconds:F1} s: {r.Out.Trim()}");
        Assert.Equal(
            [new FlistRoute(0x00, 0x7f, "dir://" + low), new FlistRoute(0x80, 0xff, "dir://" + high), new FlistRoute(0x00, 0xff, "dir://" + replica)],
            FlistConfig.Routes(t["debian.fl"]));

        sw.Restart();
        r = ZarCli.Run("extract", t["debian.fl"], t["out"]);
        Assert.True(r.Code == 0, r.Err);
        output.WriteLine($"extract: {sw.Elapsed.TotalSeconds:F1} s: {r.Out.Trim()}");

        using var merged = SourceOpener.OpenFileSystem(reference);
        using var extracted = new HostDirectory(t["out"]);
        var diffs = Differ.Compare(merged, extracted, new DiffOptions { MtimeGranularityNanoseconds = 1_000_000_000 });
        // Within flist's limits: no xattrs, hard links as separate files; the config becomes /.startup.toml.
        var unexpected = diffs.Where(d => d.Kind is not (DifferenceKind.Xattr or DifferenceKind.Hardlink)
            && !(d.Kind == DifferenceKind.OnlyInB && d.Path == StartupToml.FileName)).ToList();
        Assert.True(unexpected.Count == 0, Differ.Render(unexpected.Take(20)));
        Assert.True(merged.Walk().Count() > 5000);
        Assert.True(File.Exists(Path.Combine(t["out"], StartupToml.FileName)));

        // Each blob is in exactly the stores its range names, and the stores hold nothing else.
        using var fl = FlistImage.Open(t["debian.fl"]);
        var ids = fl.BlobIds().Select(id => ChunkCodec.Hex(id)).ToHashSet();
        static HashSet<string> Held(string store) => Directory.GetFiles(store, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToHashSet()!;
        var inLow = Held(low);
        var inHigh = Held(high);
        Assert.Equal(ids.OrderBy(x => x), Held(replica).OrderBy(x => x));
        Assert.Equal(ids.Where(id => id[0] <= '7').OrderBy(x => x), inLow.OrderBy(x => x));
        Assert.Equal(ids.Where(id => id[0] >= '8').OrderBy(x => x), inHigh.OrderBy(x => x));
        output.WriteLine($"{ids.Count} blobs: {inLow.Count} in 00-7f, {inHigh.Count} in 80-ff, all in the replica");
    }
}
