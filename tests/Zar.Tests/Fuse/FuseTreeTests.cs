using Zar.Sources;
using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Fuse;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Support;

namespace Zar.Tests.Fuse;

/// <summary>
/// What a FUSE mount shows, read back through the kernel as any program would, equals what the kernel's own
/// overlayfs shows for the same layers: the merged multi-layer image, a zar image and an EROFS image of it,
/// a stack of per-layer images mounted by the CLI, and the Debian image.
/// </summary>
public sealed class FuseTreeTests(LayeredImage image) : IClassFixture<LayeredImage>
{
    [Fact]
    public void MergedLayersMountedEqualTheKernelOverlay()
    {
        using var mount = new FuseMount(image.Stack.Merged);
        MountAssert.SameTree(image.KernelOverlay, mount.Path, image.Stack.Merged);
        Assert.Empty(mount.Log);
        // Spot checks of what the comparison covers: a hardlink group keeps one inode and its link count.
        Assert.Equal(Stat(mount["hard/h1"]).stx_ino, Stat(mount["hard/b/h3"]).stx_ino);
        Assert.Equal(3u, Stat(mount["hard/a/h2"]).stx_nlink);
    }

    [Fact]
    public void ZarImageMountedEqualsTheKernelOverlay()
    {
        using var t = new TempDir();
        ZarBuilder.Create(image.Stack.Merged, t["merged.zar"]);
        using var zar = ZarImage.Open(t["merged.zar"]);
        using var mount = new FuseMount(zar);
        MountAssert.SameTree(image.KernelOverlay, mount.Path, image.Stack.Merged);
    }

    [Fact]
    public void ErofsImageMountedEqualsTheKernelOverlay()
    {
        using var t = new TempDir();
        ErofsWriter.Write(image.Stack.Merged, t["merged.erofs"]);
        using var erofs = ErofsImage.Open(t["merged.erofs"]);
        using var mount = new FuseMount(erofs);
        MountAssert.SameTree(image.KernelOverlay, mount.Path, image.Stack.Merged);
    }

    [Fact]
    public void PerLayerStackMountedByTheCliEqualsTheKernelOverlay()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        // Mixed formats: the bottom layers as zar images, the top one as EROFS (overlay whiteouts).
        var zars = Converter.PerLayer(image.Stack, t["zar"], ImageFormat.Zar).Select(f => f.Path).ToList();
        var erofs = Converter.PerLayer(image.Stack, t["erofs"], ImageFormat.Erofs).Select(f => f.Path).ToList();
        var sources = zars.Take(zars.Count - 1).Append(erofs[^1]).ToArray();
        Directory.CreateDirectory(t["mnt"]);
        var r = ZarCli.Run(["mount", "--background", .. sources, t["mnt"]]);
        Assert.True(r.Code == 0, r.Err);
        Assert.StartsWith($"mounted at {t["mnt"]}", r.Out);
        try
        {
            Assert.Equal(KernelMounts.FuseType, MountTable.At(t["mnt"])!.FsType);
            MountAssert.SameTree(image.KernelOverlay, t["mnt"], image.Stack.Merged);
        }
        finally
        {
            var u = ZarCli.Run("umount", t["mnt"]);
            Assert.True(u.Code == 0, u.Err);
        }
        MountAssert.NotMounted(t["mnt"]);
    }

    [Fact]
    [Trait("Category", "Long")]
    public void DebianImageMountedEqualsTheKernelOverlayOfItsLayers()
    {
        DebianCorpus.Require();
        Tools.RequireRoot();
        using var t = new TempDir();
        using var stack = SourceOpener.OpenStack(DebianCorpus.Reference);
        var files = Converter.PerLayer(stack, t["erofs"], ImageFormat.Erofs);
        var mounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            for (int i = 0; i < files.Count; i++)
            {
                mounts.Add(Mount.Erofs(files[i].Path, t[$"m{i}"]));
                lowers.Insert(0, t[$"m{i}"]);
            }
            var kernel = Mount.Overlay(lowers, t["kernel"]);
            mounts.Add(kernel);
            Directory.CreateDirectory(t["mnt"]);
            var r = ZarCli.Run("mount", "--background", DebianCorpus.Reference, t["mnt"]);
            Assert.True(r.Code == 0, r.Err);
            try { MountAssert.SameTree(kernel.Path, t["mnt"], stack.Merged); }
            finally { ZarCli.Run("umount", t["mnt"]); }
            MountAssert.NotMounted(t["mnt"]);
        }
        finally
        {
            for (int i = mounts.Count - 1; i >= 0; i--) mounts[i].Dispose();
        }
    }

    static Native.Libc.Statx Stat(string path)
    {
        unsafe
        {
            fixed (byte* p = Native.Libc.Z(path))
            {
                Assert.Equal(0, Native.Libc.statx(Native.Libc.AT_FDCWD, p, Native.Libc.AT_SYMLINK_NOFOLLOW, Native.Libc.STATX_BASIC_STATS, out var st));
                return st;
            }
        }
    }
}
