using System.Text;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Layers;

/// <summary>
/// Cases where GNU tar -x of a lone layer is no reference (it refuses "..", and it cannot see the symlinks of
/// lower layers): the expected trees are written out here, following containerd's applier (clean the name,
/// ".." stops at the root, parents resolved through symlinks of the tree bounded at the root, absolute link
/// targets re-rooted).
/// </summary>
public sealed class ContainerdSemanticsTests
{
    static LayerStack Stack(TempDir t, params LayerTarBuilder[] layers) => Stack(t, new LayerStackOptions(), layers);

    static LayerStack Stack(TempDir t, LayerStackOptions options, params LayerTarBuilder[] layers)
    {
        var files = new List<string>();
        for (int i = 0; i < layers.Length; i++)
        {
            var f = t[$"layer{i}.tar"];
            File.WriteAllBytes(f, Compress.Apply(layers[i].Build(), i % 2 == 0 ? Compression.None : Compression.Gzip));
            files.Add(f);
        }
        return LayerStack.Open(new FileLayersSource(files), options);
    }

    static string Text(IReadOnlyFileSystem fs, string path) => Encoding.UTF8.GetString(fs.ReadAllBytes(fs.Stat(path)));

    /// <summary>Every non-directory of the tree as "path=content" / "path->target", sorted.</summary>
    static string Describe(IReadOnlyFileSystem fs) => string.Join("\n", fs.Walk().Where(e => e.Path.Length > 0).Select(e => e.Type switch
    {
        EntryType.Regular => $"{e.Path}={Encoding.UTF8.GetString(fs.ReadAllBytes(e))}",
        EntryType.Symlink => $"{e.Path}->{e.LinkTarget}",
        EntryType.Directory => $"{e.Path}/ {Convert.ToString(e.Mode, 8)} {e.Uid}",
        _ => $"{e.Path} {e.Type}",
    }));

    [Fact]
    public void UnsafeNamesAreClampedInsideTheRoot()
    {
        using var t = new TempDir();
        using var stack = Stack(t,
            new LayerTarBuilder()
                .Dir("usr/lib")
                .Symlink("alib", "/usr/lib")          // absolute target: re-rooted
                .Symlink("up", "../../..")            // climbs: stops at the root
                .Symlink("rel", "usr/../usr/lib")
                .File("../escape", "e")               // ".." at the root stays at the root
                .File("a/../../b", "b")               // cleaned lexically first: no "a" appears
                .File("/abs/x", "abs")
                .File("./", "")                       // resolves to the root: ignored
                .Hardlink("hl", "../../escape"),      // hardlink target clamped the same way
            new LayerTarBuilder()
                .File("alib/y", "via absolute symlink")
                .File("up/z", "via escaping symlink")
                .File("rel/w", "via relative symlink")
                .File("up/usr/lib/v", "through up then down"));
        var expected = """
            abs/ 755 0
            abs/x=abs
            alib->/usr/lib
            b=b
            escape=e
            hl=e
            rel->usr/../usr/lib
            up->../../..
            usr/ 755 0
            usr/lib/ 755 0
            usr/lib/v=through up then down
            usr/lib/w=via relative symlink
            usr/lib/y=via absolute symlink
            z=via escaping symlink
            """;
        Assert.Equal(expected.Replace("\r", ""), Describe(stack.Merged));
        Assert.Equal(2u, stack.Merged.Stat("hl").LinkCount);
        Assert.Contains(stack.Warnings, w => w.Contains("../escape") && w.Contains("kept inside as escape"));
        Assert.Equal(stack.Merged.Stat("escape").Inode, stack.Merged.Stat("hl").Inode);
    }

    [Fact]
    public void RejectPolicyRefusesBreakouts()
    {
        using var t = new TempDir();
        var e = Assert.Throws<ZarFormatException>(() => Stack(t, new LayerStackOptions { UnsafePaths = UnsafePathPolicy.Reject },
            new LayerTarBuilder().File("ok", "x").File("../escape", "e")));
        Assert.Contains("../escape", e.Message);
        Assert.Contains("breakout", e.Message);
    }

    [Fact]
    public void SymlinkedParentsAndWhiteoutsThroughThem()
    {
        using var t = new TempDir();
        using var stack = Stack(t,
            new LayerTarBuilder().Dir("usr/lib").File("usr/lib/libc.so", "libc").File("usr/lib/gone", "g").Symlink("lib", "usr/lib"),
            new LayerTarBuilder().File("lib/x", "x").Whiteout("lib", "gone"),
            new LayerTarBuilder().Dir("lib").File("lib/own", "lib is a directory now"));   // dir entry replaces the symlink
        Assert.Equal("""
            lib/ 755 0
            lib/own=lib is a directory now
            usr/ 755 0
            usr/lib/ 755 0
            usr/lib/libc.so=libc
            usr/lib/x=x
            """.Replace("\r", ""), Describe(stack.Merged));
        // Layer 2's own tree holds the physical paths and no copy of the symlink.
        Assert.Equal("""
            usr/ 755 0
            usr/lib/ 755 0
            usr/lib/.wh.gone=
            usr/lib/x=x
            """.Replace("\r", ""), Describe(stack.GetLayer(1)));
    }

    [Fact]
    public void ImplicitParentsKeepLowerAttributesAndNewOnesAre0755Root()
    {
        using var t = new TempDir();
        using var stack = Stack(t,
            new LayerTarBuilder().Dir("private", mode: 0x1C0, uid: 33, gid: 33),
            new LayerTarBuilder().File("private/deep/file", "f").Whiteout("other/dir", "nothing"));
        Assert.Equal("""
            other/ 755 0
            other/dir/ 755 0
            private/ 700 33
            private/deep/ 755 0
            private/deep/file=f
            """.Replace("\r", ""), Describe(stack.Merged));
    }

    [Fact]
    public void DirectoryReplacedByFileAndBackInOneLayerHidesLowerChildren()
    {
        using var t = new TempDir();
        using var stack = Stack(t,
            new LayerTarBuilder().File("d/lower", "l"),
            new LayerTarBuilder().File("d", "now a file").Dir("d").File("d/upper", "u"));
        Assert.Equal("d/ 755 0\nd/upper=u", Describe(stack.Merged));
        // As an overlay lower directory the re-created d must be opaque, or d/lower would show through.
        var layer = stack.GetLayer(1, WhiteoutFormat.Overlay);
        Assert.Equal("y", Encoding.ASCII.GetString(layer.Stat("d").GetXattr("trusted.overlay.opaque")!));
        Assert.NotNull(stack.GetLayer(1, WhiteoutFormat.Aufs).Lookup("d/.wh..wh..opq"));
    }

    [Fact]
    public void BadLayersFailWithOneLineErrors()
    {
        using var t = new TempDir();
        var loop = Assert.Throws<ZarFormatException>(() => Stack(t,
            new LayerTarBuilder().Symlink("l1", "l2").Symlink("l2", "l1"),
            new LayerTarBuilder().File("l1/x", "x")));
        Assert.Contains("too many levels of symbolic links", loop.Message);

        var missing = Assert.Throws<ZarFormatException>(() => Stack(t, new LayerTarBuilder().Hardlink("h", "nowhere")));
        Assert.Contains("target does not exist", missing.Message);
        Assert.Contains("layer 1", missing.Message);

        var dirLink = Assert.Throws<ZarFormatException>(() => Stack(t, new LayerTarBuilder().Dir("d").Hardlink("h", "d")));
        Assert.Contains("target is a directory", dirLink.Message);

        var badWhiteout = Assert.Throws<ZarFormatException>(() => Stack(t, new LayerTarBuilder().File("dir/.wh.", "")));
        Assert.Contains("invalid whiteout", badWhiteout.Message);
        foreach (var ex in new Exception[] { loop, missing, dirLink, badWhiteout }) Assert.DoesNotContain("\n", ex.Message);
    }

    [Fact]
    public void HardlinkHeaderAttributesApplyToTheSharedFileAndWhiteoutsKeepOtherNames()
    {
        using var t = new TempDir();
        using var stack = Stack(t,
            new LayerTarBuilder().File("f", "data", mode: 0x1A4, uid: 1, xattrs: new() { ["user.keep"] = "k", ["user.over"] = "old" }),
            new LayerTarBuilder().Hardlink("g", "f", mode: 0x1ED, uid: 2, xattrs: new() { ["user.new"] = "n", ["user.over"] = "new" }),
            new LayerTarBuilder().Whiteout("", "f"));
        var g = stack.Merged.Stat("g");
        Assert.Null(stack.Merged.Lookup("f"));
        Assert.Equal(0x1EDu, g.Mode);
        Assert.Equal(2u, g.Uid);
        Assert.Equal(1u, g.LinkCount);
        // The link header's xattrs are added, the file's others stay (containerd sets, never removes).
        Assert.Equal("user.keep=6B,user.new=6E,user.over=6E6577", string.Join(",", g.Xattrs));
        Assert.Equal("data", Text(stack.Merged, "g"));
        // Layer 1 as it was: its own snapshot, unchanged by layer 2's header.
        Assert.Equal(1u, stack.GetLayer(0).Stat("f").Uid);
        // Layer 2 copied f up to link g to it.
        Assert.Equal(stack.GetLayer(1).Stat("f").Inode, stack.GetLayer(1).Stat("g").Inode);
    }
}
