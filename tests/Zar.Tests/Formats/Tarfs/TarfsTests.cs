using Zar.Formats.Erofs;
using Zar.Formats.Tarfs;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using Zar.Tests.Fuse;

namespace Zar.Tests.Formats.Tarfs;

/// <summary>
/// tarfs disks loop-mounted by the kernel: image_block against overlayfs over the layers extracted by GNU
/// tar; each layer_block disk against its layer, and the layer disks stacked by overlayfs against the same
/// reference; fsck.erofs 1.9.3 on every disk; no file byte copied where the tar can back it.
/// </summary>
public class TarfsTests
{
    [Fact]
    public void ImageBlockMountMatchesOverlayfsOverExtractedLayers()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        using var mounts = new Mounts();
        var layers = TarfsLayers.Create(t);
        var reference = layers.ReferenceOverlay(t, mounts);
        using var stack = layers.OpenStack();

        var disk = Assert.Single(TarfsBuilder.Build(stack, t["image.disk"], new TarfsOptions { Mode = TarfsMode.ImageBlock }));
        Assert.Equal(new FileInfo(t["image.disk"]).Length, disk.Bytes);
        Assert.True(disk.PointedFiles > 20, $"{disk.PointedFiles} files pointed into the tars");
        long tars = layers.PlainTars.Sum(p => new FileInfo(p).Length);
        Assert.Equal(tars, disk.TarBytes);
        TarfsLayers.Fsck(t["image.disk"], layers.PlainTars);

        using (var image = ErofsImage.Open(t["image.disk"]))
        {
            Assert.Equal(layers.PlainTars.Count, image.Devices.Count);
            // Every tar is in the disk verbatim at its slot, each at a 512 KiB boundary (Nydus's placement).
            using var f = File.OpenRead(t["image.disk"]);
            for (int i = 0; i < image.Devices.Count; i++)
            {
                long at = image.Devices[i].MappedBlockAddress * 512L;
                Assert.Equal(0, at % TarfsBuilder.TarAlignment);
                var tar = File.ReadAllBytes(layers.PlainTars[i]);
                var inDisk = new byte[tar.Length];
                f.Position = at;
                f.ReadExactly(inDisk);
                Assert.True(tar.AsSpan().SequenceEqual(inDisk), $"tar {i + 1} is not verbatim in the disk");
            }
            TreeAssert.Equal(stack.Merged, image, compareRoot: false);
        }

        using var mount = Mount.Erofs(t["image.disk"], t["mnt"]);
        using var kernel = new HostDirectory(mount.Path);
        using var expected = new HostDirectory(reference);
        TreeAssert.Equal(expected, kernel, compareRoot: false);
        AssertSpotChecks(mount.Path);
    }

    [Fact]
    public void LayerBlockDisksMountAsTheirLayersAndStackToTheMergedImage()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        using var mounts = new Mounts();
        var layers = TarfsLayers.Create(t);
        var reference = layers.ReferenceOverlay(t, mounts);
        using var stack = layers.OpenStack();

        var disks = TarfsBuilder.Build(stack, t["disks"], new TarfsOptions { Mode = TarfsMode.LayerBlock });
        Assert.Equal(layers.PlainTars.Count, disks.Count);
        var names = Directory.GetFiles(t["disks"]).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(disks.Select(d => Path.GetFileName(d.Path)), names);
        Assert.All(names, n => Assert.Matches(@"^0[1-5]-[0-9a-f]{12}\.layer\.disk$", n!));

        var diskMounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            for (int i = 0; i < disks.Count; i++)
            {
                TarfsLayers.Fsck(disks[i].Path, [layers.PlainTars[i]]);
                var m = Mount.Erofs(disks[i].Path, t[$"mnt{i + 1}"]);
                diskMounts.Add(m);
                using (var kernel = new HostDirectory(m.Path))
                    TreeAssert.Equal(stack.GetLayer(i, WhiteoutFormat.Overlay), kernel, compareRoot: false);
                lowers.Insert(0, m.Path);
            }
            var merged = mounts.Overlay(t["merged"], lowers);
            using var ours = new HostDirectory(merged);
            using var expected = new HostDirectory(reference);
            TreeAssert.Equal(expected, ours, compareRoot: false);
            AssertSpotChecks(merged);
        }
        finally
        {
            mounts.Dispose();
            foreach (var m in diskMounts) m.Dispose();
        }
    }

    /// <summary>The comparison is not vacuous: whiteouts applied, capabilities, GNU names, sparse data and the non-UTF-8 name are there.</summary>
    static void AssertSpotChecks(string root)
    {
        Assert.False(File.Exists(Path.Combine(root, "wh/f1")));
        Assert.False(Directory.Exists(Path.Combine(root, "wh/d")));
        Assert.False(File.Exists(Path.Combine(root, "opq/b/c")));
        Assert.Equal("two, the last one wins", File.ReadAllText(Path.Combine(root, "dup")));
        var cap = Tools.Run("getfattr", ["--only-values", "-n", "security.capability", Path.Combine(root, TarfsLayers.CapabilityFile)]);
        Assert.True(cap.Code == 0, cap.Err);
        Assert.Equal(Convert.ToBase64String(TarfsLayers.Capability), Tools.Sh($"getfattr --only-values -n security.capability '{Path.Combine(root, TarfsLayers.CapabilityFile)}' | base64 -w0").Trim());
        Assert.Equal("gnu long name", File.ReadAllText(Path.Combine(root, "gnu", new string('g', 120), new string('h', 110))));
        Assert.Equal(new string('t', 150), new FileInfo(Path.Combine(root, "gnu/long-link")).LinkTarget);
        var sparse = File.ReadAllBytes(Path.Combine(root, "gnu/sparse"));
        Assert.Equal(5000000, sparse.Length);
        Assert.Equal("first extent", System.Text.Encoding.ASCII.GetString(sparse, 1000, 12));
        Assert.Equal("tail", System.Text.Encoding.ASCII.GetString(sparse, 4999996, 4));
        Assert.Equal("latin-1 name", Tools.Sh($"cat '{root}'/gnu/caf$(printf '\\351')"));
    }

    [Fact]
    public void MetaOnlyMountsWithTheTarsAsDevices()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var layers = TarfsLayers.Create(t);
        using var stack = layers.OpenStack();
        var disk = Assert.Single(TarfsBuilder.Build(stack, t["image.meta"], new TarfsOptions { Mode = TarfsMode.ImageBlock, MetaOnly = true }));
        Assert.Equal(layers.PlainTars.Count, disk.DeviceFiles.Count);
        // Uncompressed layers are used in place; compressed ones are written out beside the metadata.
        Assert.Equal(Path.Combine(t.Path, Path.GetFileName(disk.DeviceFiles[1])), disk.DeviceFiles[1]);
        for (int i = 0; i < layers.PlainTars.Count; i++)
            Assert.True(File.ReadAllBytes(layers.PlainTars[i]).AsSpan().SequenceEqual(File.ReadAllBytes(disk.DeviceFiles[i])), $"device {i + 1}");
        Assert.True(disk.Bytes < disk.TarBytes / 5, $"metadata {disk.Bytes} bytes for {disk.TarBytes} bytes of tar");
        Assert.Contains("device=", disk.MountCommand());
        TarfsLayers.Fsck(t["image.meta"], disk.DeviceFiles);

        var loops = disk.DeviceFiles.Select(LoopDevice.Attach).ToList();
        try
        {
            using var mount = Mount.Erofs(t["image.meta"], t["mnt"], loops.Select(l => l.Path));
            using var kernel = new HostDirectory(mount.Path);
            TreeAssert.Equal(stack.Merged, kernel, compareRoot: false);
        }
        finally { foreach (var l in loops) l.Dispose(); }
        using var reader = ErofsImage.Open(t["image.meta"], disk.DeviceFiles);
        TreeAssert.Equal(stack.Merged, reader, compareRoot: false);
    }

    /// <summary>umoci writes whiteouts below a path a later layer turned into a file: a no-op, as containerd applies it.</summary>
    [Fact]
    public void WhiteoutBelowAFileIsANoOp()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        File.WriteAllBytes(t["l1"], new LayerTarBuilder().Dir("d").File("d/x", "x").File("keep", "k").Build());
        File.WriteAllBytes(t["l2"], new LayerTarBuilder().File("d", "d is a file now").Build());
        File.WriteAllBytes(t["l3"], new LayerTarBuilder().Whiteout("d", "x").Whiteout("keep", "y").File("other", "o").Build());
        using var stack = LayerStack.Open(new FileLayersSource([t["l1"], t["l2"], t["l3"]]));
        TarfsBuilder.Build(stack, t["image.disk"], new TarfsOptions { Mode = TarfsMode.ImageBlock });
        var disks = TarfsBuilder.Build(stack, t["disks"], new TarfsOptions { Mode = TarfsMode.LayerBlock });
        AssertDisksMountAsTheMergedImage(stack, t, t["image.disk"], disks, image =>
        {
            Assert.Equal("d is a file now", File.ReadAllText(Path.Combine(image, "d")));
            Assert.Equal("k", File.ReadAllText(Path.Combine(image, "keep")));
        });
    }

    /// <summary>The image disk mounted by the kernel, and the layer disks mounted and stacked by overlayfs, each equal the merged image.</summary>
    static void AssertDisksMountAsTheMergedImage(LayerStack stack, TempDir t, string imageDisk, IReadOnlyList<TarfsDisk> layerDisks, Action<string>? checkImage = null)
    {
        using var mounts = new Mounts();
        var diskMounts = new List<Mount>();
        try
        {
            var image = Mount.Erofs(imageDisk, t["mnt"]);
            diskMounts.Add(image);
            checkImage?.Invoke(image.Path);
            using (var kernel = new HostDirectory(image.Path)) TreeAssert.Equal(stack.Merged, kernel, compareRoot: false);
            var lowers = new List<string>();
            for (int i = 0; i < layerDisks.Count; i++)
            {
                var m = Mount.Erofs(layerDisks[i].Path, t[$"m{i}"]);
                diskMounts.Add(m);
                lowers.Insert(0, m.Path);
            }
            using var stacked = new HostDirectory(mounts.Overlay(t["merged"], lowers));
            TreeAssert.Equal(stack.Merged, stacked, compareRoot: false);
        }
        finally
        {
            mounts.Dispose();
            foreach (var m in diskMounts) m.Dispose();
        }
    }

    [Fact]
    public void DebianImageBothModesMatchTheMergedImage()
    {
        Tools.RequireRoot();
        DebianCorpus.Require();
        using var t = new TempDir();
        using var stack = global::Zar.Sources.SourceOpener.OpenStack(DebianCorpus.Reference);
        var image = Assert.Single(TarfsBuilder.Build(stack, t["image.disk"], new TarfsOptions { Mode = TarfsMode.ImageBlock }));
        long tars = stack.Layers.Sum(l => l.TarBytes);
        // The disk is the tars plus under 1% (metadata, alignment).
        Assert.True(image.Bytes - tars < tars / 100, $"disk {image.Bytes} bytes for {tars} bytes of tar");
        Assert.True(image.CopiedFiles == 0, $"{image.CopiedFiles} files copied");
        var layerDisks = TarfsBuilder.Build(stack, t["disks"], new TarfsOptions { Mode = TarfsMode.LayerBlock });
        AssertDisksMountAsTheMergedImage(stack, t, t["image.disk"], layerDisks);
        var tarFiles = new List<string>();
        for (int i = 0; i < stack.Blobs.Count; i++)
        {
            var p = t[$"layer{i}.tar"];
            using (var o = File.Create(p)) using (var s = stack.Blobs[i].OpenSequential()) s.CopyTo(o);
            tarFiles.Add(p);
        }
        TarfsLayers.Fsck(t["image.disk"], tarFiles);
    }
}
