using System.Diagnostics;
using Zar.Consumers;
using Zar.Fuse;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Model;
using Zar.Tests.Support;

namespace Zar.Tests.Fuse;

/// <summary>A file system served through FUSE at a temporary mount point for the length of a test.</summary>
public sealed class FuseMount : IDisposable
{
    readonly TempDir? _dir;
    public FuseServer Server { get; }
    public string Path => Server.MountPoint;
    public List<string> Log { get; } = new();

    public FuseMount(IReadOnlyFileSystem fs, FuseServerOptions? options = null, string? mountPoint = null)
    {
        Tools.RequireRoot();
        if (mountPoint == null)
        {
            _dir = new TempDir();
            mountPoint = _dir["mnt"];
        }
        Directory.CreateDirectory(mountPoint);
        options ??= new FuseServerOptions();
        Server = FuseServer.Mount(fs, mountPoint, new FuseServerOptions
        {
            Threads = options.Threads,
            AllowOther = options.AllowOther,
            WritableUpper = options.WritableUpper,
            Passthrough = options.Passthrough,
            ReadAheadKb = options.ReadAheadKb,
            FsName = options.FsName,
            Log = m => { lock (Log) Log.Add(m); },
        });
    }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        Server.Dispose();
        _dir?.Dispose();
    }
}

/// <summary>The Debian corpus image (../shared/corpus/make-debian-image.sh): a failure in CI when missing, a skip elsewhere.</summary>
public static class DebianCorpus
{
    public static string Root => Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";
    public static string Layout => System.IO.Path.Combine(Root, "debian-oci");
    public static string Reference => $"oci:{Layout}:latest";

    public static void Require()
    {
        if (File.Exists(System.IO.Path.Combine(Root, ".state", "oci.done")) && File.Exists(System.IO.Path.Combine(Layout, "index.json"))) return;
        var msg = $"the Debian corpus image is not at {Layout} (make it with ../shared/corpus/make-debian-image.sh)";
        if (Tools.InCI) Assert.Fail(msg);
        Assert.Skip(msg);
    }
}

/// <summary>
/// A multi-layer image with every case: the "every entry type" tree (xattrs incl. security.capability,
/// devices, fifos, 255-byte and non-UTF-8 names, sparse files, hardlinks) as the bottom layer, then the
/// three layers the merge is checked with (whiteouts, opaque directories, type changes, hardlinks across
/// layers). The reference is the kernel's overlayfs over the per-layer EROFS images, loop-mounted.
/// </summary>
public sealed class LayeredImage : IDisposable
{
    public readonly TempDir Dir = new();
    public LayerStack Stack { get; }
    public IReadOnlyList<string> LayerTars { get; }
    public string KernelOverlay { get; }
    readonly List<Mount> _mounts = new();

    public LayeredImage()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        var tree = Dir["tree"];
        TreeFixture.CreateEverything(tree, new TreeOptions { Socket = false });
        var layer0 = Dir["layer0.tar"];
        Tools.Sh($"tar --format=posix --xattrs --xattrs-include='*' -S --numeric-owner -C {Materialize.Q(tree)} -cf {Materialize.Q(layer0)} .");
        LayerTars =
        [
            layer0,
            OverlayMergeTests.MakeLayer1(Dir),
            Write("layer2.tar", OverlayMergeTests.Layer2().Build()),
            Write("layer3.tar", OverlayMergeTests.Layer3().Build()),
        ];
        Stack = LayerStack.Open(new FileLayersSource(LayerTars));
        try
        {
            var files = Converter.PerLayer(Stack, Dir["erofs"], ImageFormat.Erofs);
            var lowers = new List<string>();
            for (int i = 0; i < files.Count; i++)
            {
                _mounts.Add(Mount.Erofs(files[i].Path, Dir[$"m{i}"]));
                lowers.Insert(0, Dir[$"m{i}"]);
            }
            var merged = Mount.Overlay(lowers, Dir["kernel"]);
            _mounts.Add(merged);
            KernelOverlay = merged.Path;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    string Write(string name, byte[] bytes)
    {
        File.WriteAllBytes(Dir[name], bytes);
        return Dir[name];
    }

    public void Dispose()
    {
        for (int i = _mounts.Count - 1; i >= 0; i--) _mounts[i].Dispose();
        Stack?.Dispose();
        Dir.Dispose();
    }
}

public static class MountAssert
{
    /// <summary>
    /// The tree under <paramref name="mountPoint"/> (read through the kernel, as any program sees it) equals the
    /// reference directory: names, types, modes, owners, times, sizes, contents (holes as zeros), link targets,
    /// devices, xattrs and hardlink groups. Link counts are the names still visible in the merged tree, as
    /// <paramref name="model"/> (the merged image) has them: overlayfs shows a lower file's count unchanged when
    /// a higher layer deleted some of its names, so it is no reference for those.
    /// </summary>
    public static void SameTree(string reference, string mountPoint, IReadOnlyFileSystem? model = null)
    {
        using var expected = new HostDirectory(reference);
        using var actual = new HostDirectory(mountPoint);
        TreeComparer.AssertSame(expected, actual, new TreeComparer.Options { SampleHoles = true, Hardlinks = model == null });
        if (model == null) return;
        Assert.Equal(TreeAssert.Groups(expected), TreeAssert.Groups(actual));
        var wrong = actual.Walk().Where(e => e.IsRegular && model.Lookup(e.Path) is { } m && m.LinkCount != e.LinkCount)
            .Select(e => $"{e.Path}: {e.LinkCount} links, the merged image has {model.Lookup(e.Path)!.LinkCount}").ToList();
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    public static void NotMounted(string mountPoint, int waitMs = 10_000)
    {
        var sw = Stopwatch.StartNew();
        while (MountTable.At(mountPoint) != null && sw.ElapsedMilliseconds < waitMs) Thread.Sleep(50);
        Assert.True(MountTable.At(mountPoint) == null, $"{mountPoint} is still mounted");
    }
}
