using Zar.Overlay;
using Zar.Formats.Erofs;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>
/// Per-layer EROFS images with OCI whiteouts converted (OverlayWhiteouts) stacked by the kernel's
/// overlayfs must give the same merged tree as overlayfs over directories holding the overlayfs
/// form made by hand (mknod 0/0, trusted.overlay.opaque).
/// </summary>
public class ErofsOverlayTests
{
    [Fact]
    public void LayerImagesWithWhiteoutsOverlayMatchesReference()
    {
        Tools.RequireRoot();
        Tools.Require("setfattr");
        using var tmp = new TempDir();
        string bottom = tmp["oci/bottom"], mid = tmp["oci/mid"], top = tmp["oci/top"];
        Tools.Sh($$"""
            mkdir -p '{{bottom}}' '{{mid}}' '{{top}}'
            cd '{{bottom}}'
            mkdir -p a/sub b c d/keep e
            echo 1 > a/1; echo 2 > a/2; echo x > a/sub/x; echo keep > b/keep; echo gone > b/gone
            echo file > c/file; echo k > d/keep/k; echo t1 > t1; echo t2 > t2; echo e > e/e
            cd '{{mid}}'
            mkdir -p a b newdir e
            touch a/.wh.1 b/.wh..wh..opq newdir/.wh.ghost .wh.t2
            echo new > b/new; echo n > newdir/n; echo mid-e > e/e
            cd '{{top}}'
            mkdir -p a c d e
            touch .wh.t1 d/.wh..wh..opq a/.wh.sub c/.wh.file e/.wh..wh..opq
            echo again > c/file; echo top-d > d/only; echo top-e > e/top
            touch a/.wh..wh.plnk
            cd '{{tmp.Path}}/oci'
            find . -exec touch -h -d '2020-03-04 05:06:07' {} +
            """);

        // Reference: the same layers in overlayfs form, converted by hand.
        var refLayers = new List<string>();
        foreach (var layer in new[] { "bottom", "mid", "top" })
        {
            var dst = tmp[$"ref/{layer}"];
            Directory.CreateDirectory(tmp["ref"]);
            Tools.Sh($$"""
                cp -a '{{tmp[$"oci/{layer}"]}}' '{{dst}}'
                cd '{{dst}}'
                find . -name '.wh..wh..opq' | while read -r f; do d=$(dirname "$f"); rm "$f"; setfattr -n trusted.overlay.opaque -v y "$d"; done
                find . -name '.wh..wh.*' -delete
                find . -name '.wh.*' | while read -r f; do d=$(dirname "$f"); n=$(basename "$f"); w="$d/${n#.wh.}"; if [ -e "$w" ]; then rm "$f"; continue; fi; mknod "$w" c 0 0; chmod --reference="$f" "$w"; touch -r "$f" "$w"; rm "$f"; setfattr -n trusted.overlay.origin -v '' "$d" 2>/dev/null || setfattr -n trusted.overlay.origin "$d"; done
                cd '{{tmp[$"oci/{layer}"]}}'
                find . -type d | while read -r d; do touch -h -r "$d" '{{dst}}'/"$d"; done
                """);
            refLayers.Add(dst);
        }

        var imageMounts = new List<Mount>();
        var mounts = new List<Mount>();
        try
        {
            var lowers = new List<string>();
            foreach (var layer in new[] { "bottom", "mid", "top" })
            {
                var img = tmp[$"{layer}.erofs"];
                using (var src = new HostDirectory(tmp[$"oci/{layer}"]))
                    ErofsWriter.Write(new OverlayFormView(src), img);
                var fsck = Tools.Run(Tools.Require("fsck.erofs"), [img]);
                Assert.True(fsck.Code == 0, fsck.Out + fsck.Err);
                // Our reader shows the converted layer exactly as the kernel does.
                var m = Mount.Erofs(img, tmp[$"mnt/{layer}"]);
                imageMounts.Add(m);
                using (var mounted = new HostDirectory(m.Path))
                using (var image = ErofsImage.Open(img))
                    TreeComparer.AssertSame(mounted, image);
                using (var mounted = new HostDirectory(m.Path))
                using (var refLayer = new HostDirectory(tmp[$"ref/{layer}"]))
                    TreeComparer.AssertSame(refLayer, mounted, new TreeComparer.Options { Hardlinks = false, IgnoreXattr = n => n == "trusted.overlay.origin" });
                lowers.Insert(0, m.Path);
            }
            refLayers.Reverse();
            var ours = Mount.Overlay(lowers, tmp["merged/ours"]);
            mounts.Add(ours);
            var reference = Mount.Overlay(refLayers, tmp["merged/ref"]);
            mounts.Add(reference);
            using var a = new HostDirectory(reference.Path);
            using var b = new HostDirectory(ours.Path);
            TreeComparer.AssertSame(a, b, new TreeComparer.Options { Hardlinks = false });
            // The merge really applied the whiteouts (guards against both sides being wrong alike).
            var names = ((global::Zar.Model.IReadOnlyFileSystem)b).Walk().Select(e => e.Path).ToHashSet();
            Assert.DoesNotContain("a/1", names);
            Assert.DoesNotContain("a/sub", names);
            Assert.DoesNotContain("b/gone", names);
            Assert.DoesNotContain("t1", names);
            Assert.DoesNotContain("t2", names);
            Assert.DoesNotContain("d/keep", names);
            Assert.DoesNotContain("newdir/ghost", names);
            Assert.DoesNotContain("e/e", names);
            Assert.Contains("c/file", names);
            Assert.DoesNotContain("b/keep", names);
            Assert.Contains("a/2", names);
            Assert.Contains("d/only", names);
            Assert.Equal("again\n", File.ReadAllText(Path.Combine(ours.Path, "c/file")));
        }
        finally
        {
            foreach (var m in mounts) m.Dispose();
            foreach (var m in imageMounts) m.Dispose();
        }
    }
}
