using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Layers;

/// <summary>
/// The layer merge compared with the kernel: every layer is extracted by GNU tar into its own directory, its
/// whiteouts turned into 0/0 character devices and its opaque markers into trusted.overlay.opaque=y, and the
/// directories are mounted as a read-only overlay; the mount must equal our merged tree in every attribute.
/// Hardlinks to files of lower layers cannot be extracted from a lone layer; the reference does what an overlay
/// mount does on link(): it copies the target (with its other names, keeping them linked) up into the layer
/// directory first.
/// </summary>
public sealed class OverlayMergeTests
{
    /// <summary>Layer 1's timestamps; hardlink headers to its files carry them (as real tar writers do), because
    /// containerd applies a hardlink header's attributes to the shared inode and GNU tar does not.</summary>
    static readonly DateTimeOffset T1 = new(2020, 1, 2, 3, 4, 5, 500, TimeSpan.Zero);

    /// <summary>Layer 1 as a real directory packed by GNU tar ("./" prefixes, PAX xattrs, a sparse file, devices).</summary>
    internal static string MakeLayer1(TempDir t)
    {
        var src = t["src1"];
        Directory.CreateDirectory(src);
        Tools.Sh("""
            set -e
            cd "$0"
            chmod 755 .
            mkdir -p etc usr/lib opq/b wh/d dirfile/sub filedir-parent hl multi attrs keepdir implicitbase
            printf 'root:x:0:0\n' > etc/conf
            printf 'libc' > usr/lib/libc.so
            ln -s usr/lib lib
            printf a > opq/a; printf c > opq/b/c
            printf 1 > wh/f1; printf 2 > wh/f2; printf i > wh/d/inner
            printf c1 > dirfile/child1; printf c2 > dirfile/sub/child2
            printf 'file' > filedir
            printf 'target' > hl/target
            printf 'a' > hl/a; ln hl/a hl/a2
            printf 'x' > multi/x; ln multi/x multi/y
            printf 's' > attrs/setuid; chmod 4755 attrs/setuid; chown 1000:1000 attrs/setuid
            printf 'x' > attrs/xattr; setfattr -n user.foo -v bar attrs/xattr
            mkfifo attrs/fifo
            mknod attrs/chardev c 1 7
            chmod 700 keepdir; chown 5:5 keepdir; printf k > keepdir/old
            truncate -s 3M attrs/sparse; printf 'data' | dd of=attrs/sparse bs=1 seek=1048576 conv=notrunc status=none
            find . -exec touch -h -d '2020-01-02 03:04:05.5' {} +
            """.Replace("\"$0\"", Materialize.Q(src)));
        var tar = t["layer1.tar"];
        Tools.Sh($"tar --format=posix --xattrs --xattrs-include='*' -S --numeric-owner -C {Materialize.Q(src)} -cf {Materialize.Q(tar)} .");
        return tar;
    }

    internal static LayerTarBuilder Layer2() => new LayerTarBuilder()
        .Whiteout("wh", "f1")
        .Whiteout("wh", "d")
        .Whiteout("wh", "f2").File("wh/f2", "new f2")                    // same-layer re-creation survives
        .File("opq/new1", "before marker")                               // sibling before the opaque marker
        .Opaque("opq")
        .File("opq/new2", "after marker")                                // and after it
        .Dir("opq/b").File("opq/b/n3", "n3")                             // lower opq/b/c must not come back
        .File("dirfile", "dir became a file", mode: 0x180)               // directory -> file
        .Dir("filedir").File("filedir/inside", "file became a dir")      // file -> directory
        .Hardlink("hl/b", "hl/target", mtime: T1)                                   // hardlink to a lower-layer file
        .Hardlink("multi/z", "./multi/x", mtime: T1)                                // joins a lower hardlink group
        .File("hl/c", "c").Hardlink("hl/c2", "hl/c")                     // hardlink within the layer
        .File("dup", "one").File("dup", "two, the last one wins")        // duplicate entries
        .File("implicitbase/a/b/file", "implicit parents inside an existing dir")
        .File("newimplicit/x/y", "implicit parents from nothing")
        .Dir("keepdir", mode: 0x1E8, uid: 6, gid: 6).File("keepdir/new", "new")   // dir over dir: attributes change, children stay
        .File("./etc/conf2", "dot-slash prefix")
        .File("/etc/absolute", "absolute name")
        .File("etc/conf", "changed", mode: 0x180, uid: 7, gid: 8, xattrs: new() { ["user.layer"] = "2" });

    internal static LayerTarBuilder Layer3() => new LayerTarBuilder()
        .Dir("dirfile").File("dirfile/again", "file became a dir again") // file -> directory (dir -> file -> dir)
        .File("filedir", "back to a file")                               // dir -> file
        .Whiteout("hl", "a")                                             // one name of a lower group goes, a2 stays
        .Whiteout("hl", "c")                                             // a name from layer 2's group
        .Whiteout("multi", "y")
        .Whiteout("keepdir", "new")
        .Dir("etc", mode: 0x1C0)
        .CharDevice("dev-null", 1, 3)
        .Fifo("pipe")
        .Symlink("filelink", "etc/conf")
        .Dir("usr/lib", mode: 0x1ED).File("usr/lib/added", "via explicit path");

    [Theory]
    [InlineData(Compression.None, Compression.Gzip, Compression.Zstd)]
    [InlineData(Compression.Zstd, Compression.None, Compression.Gzip)]
    public void MergedTreeMatchesOverlayfsMount(Compression c1, Compression c2, Compression c3)
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        using var mounts = new Mounts();
        var plain = new[] { MakeLayer1(t), Write(t, "layer2.tar", Layer2().Build()), Write(t, "layer3.tar", Layer3().Build()) };
        var hardlinks = new[] { new List<(string, string)>(), Layer2().Hardlinks, Layer3().Hardlinks };
        var comps = new[] { c1, c2, c3 };
        var files = plain.Select((p, i) => Write(t, $"blob{i + 1}", Compress.Apply(File.ReadAllBytes(p), comps[i]))).ToList();

        var lowers = new List<string>();
        string? lowerView = null;
        for (int i = 0; i < plain.Length; i++)
        {
            var dir = t[$"L{i + 1}"];
            ExtractReferenceLayer(plain[i], dir, lowerView, hardlinks[i]);
            lowers.Insert(0, dir);
            lowerView = i == 0 ? dir : mounts.Overlay(t[$"mnt{i + 1}"], lowers);
        }

        using var stack = LayerStack.Open(new FileLayersSource(files));
        using var kernel = new HostDirectory(lowerView!);
        TreeAssert.Equal(kernel, stack.Merged, compareRoot: false);
        // Spot checks that the comparison is not vacuous.
        Assert.Equal("two, the last one wins", System.Text.Encoding.UTF8.GetString(stack.Merged.ReadAllBytes(stack.Merged.Stat("dup"))));
        Assert.Null(stack.Merged.Lookup("opq/b/c"));
        Assert.Equal(EntryType.Directory, stack.Merged.Stat("dirfile").Type);
        Assert.Contains("hl/b = hl/target", TreeAssert.Groups(stack.Merged));
        Assert.Contains("multi/x = multi/z", TreeAssert.Groups(stack.Merged));
        Assert.Equal(new[] { LayerCompression(c1), LayerCompression(c2), LayerCompression(c3) }, stack.Layers.Select(l => l.Compression));
    }

    static Zar.Sources.Tar.LayerCompression LayerCompression(Compression c) => c switch
    {
        Compression.Gzip => Zar.Sources.Tar.LayerCompression.Gzip,
        Compression.Zstd => Zar.Sources.Tar.LayerCompression.Zstd,
        _ => Zar.Sources.Tar.LayerCompression.None,
    };

    static string Write(TempDir t, string name, byte[] bytes)
    {
        File.WriteAllBytes(t[name], bytes);
        return t[name];
    }

    /// <summary>GNU tar extraction of one layer, as an overlay lower directory.</summary>
    internal static void ExtractReferenceLayer(string tar, string dir, string? lowerView, List<(string Name, string Target)> hardlinks)
    {
        Directory.CreateDirectory(dir);
        if (lowerView != null && hardlinks.Count > 0)
        {
            // Copy-up of link targets that live in lower layers, with every other name of the same file.
            using var lower = new HostDirectory(lowerView);
            var fs = (IReadOnlyFileSystem)lower;
            var all = fs.Walk().ToList();
            foreach (var (_, target) in hardlinks)
            {
                var norm = ZarPath.NormalizeClamped(target);
                var t = lower.Lookup(norm);
                if (t == null) continue; // target comes from this layer
                var names = all.Where(e => e.Type == EntryType.Regular && e.Inode == t.Inode).Select(e => Materialize.Q(e.Path));
                Tools.Sh($"cd {Materialize.Q(lowerView)} && cp -a --parents {string.Join(' ', names)} {Materialize.Q(dir)}/");
            }
        }
        var r = Tools.Run("tar", ["-xf", tar, "-C", dir, "--numeric-owner", "--same-owner", "-p", "--xattrs", "--xattrs-include=*"]);
        Assert.True(r.Code == 0, $"tar -x {tar}: {r.Err}");
        if (lowerView != null)
        {
            // tar -x makes missing parents 0755 root; containerd's applier gives them the attributes of the
            // directory in the lower snapshots (so does our merge), so the reference copies those.
            var listed = Tools.Run("tar", ["-tf", tar]).Out.Split('\n')
                .Where(n => n.EndsWith('/')).Select(n => ZarPath.NormalizeClamped(n)).ToHashSet();
            using var layerDir = new HostDirectory(dir);
            using var lower = new HostDirectory(lowerView);
            var fix = new System.Text.StringBuilder("set -e\n");
            foreach (var d in ((IReadOnlyFileSystem)layerDir).Walk().Where(e => e.IsDirectory && e.Path.Length > 0 && !listed.Contains(e.Path)))
                if (lower.Lookup(d.Path) is { IsDirectory: true } l)
                    fix.Append($"chown {l.Uid}:{l.Gid} {Materialize.Q(Path.Combine(dir, d.Path))}; chmod {Convert.ToString(l.Mode, 8)} {Materialize.Q(Path.Combine(dir, d.Path))}\n");
            Tools.Sh(fix.ToString());
        }
        // Whiteouts to overlay form. A whiteout whose name the layer re-creates only hides lower content:
        // a re-created directory becomes opaque, a re-created non-directory hides the lower one by itself.
        Tools.Sh($$"""
            cd {{Materialize.Q(dir)}}
            chmod 755 . && chown 0:0 .
            find . -name '.wh..wh..opq' -print0 | while IFS= read -r -d '' m; do
              setfattr -n trusted.overlay.opaque -v y "$(dirname "$m")"; rm -f "$m"
            done
            find . -name '.wh.*' -print0 | while IFS= read -r -d '' w; do
              d=$(dirname "$w"); n=$(basename "$w"); n=${n#.wh.}; rm -f "$w"
              if [ -d "$d/$n" ] && [ ! -L "$d/$n" ]; then setfattr -n trusted.overlay.opaque -v y "$d/$n"
              elif [ ! -e "$d/$n" ] && [ ! -L "$d/$n" ]; then mknod "$d/$n" c 0 0
              fi
            done
            """);
    }

    /// <summary>
    /// The per-layer trees in overlay form, written to disk and stacked by the kernel, give the merged tree:
    /// copy-ups, whiteouts and opaque directories of every layer are what an overlay needs. This covers
    /// symlinked parents too, which a plain tar -x of a lone layer cannot reproduce.
    /// </summary>
    [Fact]
    public void PerLayerTreesStackedByOverlayfsGiveTheMergedTree()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var t = new TempDir();
        using var mounts = new Mounts();
        var layer4 = new LayerTarBuilder()
            .File("lib/x", "through the lib symlink")        // lib -> usr/lib: lands in usr/lib/x
            .Whiteout("lib", "libc.so")                       // whiteout through the symlinked parent
            .Dir("fresh").File("fresh/f", "f")
            .Whiteout("", "fresh")                            // whiteout + same-layer dir: lower fresh (none) hidden
            .Hardlink("hl/t2", "hl/target", mtime: T1);                  // group from layer 2 copied up again
        var files = new List<string>
        {
            MakeLayer1(t), Write(t, "l2", Compress.Apply(Layer2().Build(), Compression.Gzip)),
            Write(t, "l3", Compress.Apply(Layer3().Build(), Compression.Zstd)), Write(t, "l4", layer4.Build()),
        };
        using var stack = LayerStack.Open(new FileLayersSource(files));
        Assert.Equal("through the lib symlink", System.Text.Encoding.UTF8.GetString(stack.Merged.ReadAllBytes(stack.Merged.Stat("usr/lib/x"))));
        Assert.Null(stack.Merged.Lookup("usr/lib/libc.so"));
        Assert.Equal(EntryType.Symlink, stack.Merged.Stat("lib").Type);

        var lowers = new List<string>();
        for (int i = 0; i < files.Count; i++)
        {
            var layer = stack.GetLayer(i, WhiteoutFormat.Overlay);
            Materialize.To(layer, t[$"U{i}"]);
            lowers.Insert(0, t[$"U{i}"]);
        }
        var mnt = mounts.Overlay(t["mnt"], lowers);
        using var kernel = new HostDirectory(mnt);
        TreeAssert.Equal(kernel, stack.Merged, compareRoot: false);

        // Layer 4's own tree: the file went to its physical place, the symlink was not copied.
        var l4 = stack.GetLayer(3, WhiteoutFormat.Aufs);
        Assert.NotNull(l4.Lookup("usr/lib/x"));
        Assert.NotNull(l4.Lookup("usr/lib/.wh.libc.so"));
        Assert.Null(l4.Lookup("lib"));
        Assert.Null(l4.Lookup(".wh.fresh"));
        Assert.NotNull(l4.Lookup("fresh/.wh..wh..opq"));
        Assert.NotNull(l4.Lookup("hl/target"));
    }
}
