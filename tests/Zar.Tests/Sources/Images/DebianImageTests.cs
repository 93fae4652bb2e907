using System.Diagnostics;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using Zar.Sources;

namespace Zar.Tests.Sources.Images;

/// <summary>
/// A realistic image, built like /work/shared/corpus/make-debian-image.sh: a Debian minbase rootfs as layer 1,
/// deletions/replacements/metadata changes as layer 2 (umoci turns them into whiteouts), hardlinks to lower
/// files and replacements as layer 3. umoci unpack of the result is the reference; skopeo's conversions to
/// docker-archive, oci-archive and zstd layers must read back to the same tree.
/// The rootfs comes from $ZAR_DEBIAN_ROOTFS ("host" forces the last choice), else a cached `debootstrap --variant=minbase bookworm` in
/// /tmp/zar-images-cache/rootfs (built when ZAR_DEBOOTSTRAP=1; needs a Debian mirror), else a tree copied from
/// this (Debian) machine's /etc, /usr/bin, /usr/sbin, /usr/share/doc and /var/lib/dpkg.
/// </summary>
[Trait("Category", "Long")]
public sealed class DebianImageTests(ITestOutputHelper output)
{
    const string Cache = "/tmp/zar-images-cache/rootfs";

    static string RootfsSource(TempDir t, out string kind)
    {
        var env = Environment.GetEnvironmentVariable("ZAR_DEBIAN_ROOTFS");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "etc/debian_version"))) { kind = "ZAR_DEBIAN_ROOTFS"; return env; }
        bool forceHost = env == "host";
        if (!forceHost && !File.Exists(Path.Combine(Cache, "etc/debian_version")) && Environment.GetEnvironmentVariable("ZAR_DEBOOTSTRAP") == "1")
            Tools.Sh($"rm -rf {Cache}.tmp && debootstrap --variant=minbase bookworm {Cache}.tmp > /tmp/zar-images-debootstrap.log 2>&1 && mv {Cache}.tmp {Cache}");
        if (!forceHost && File.Exists(Path.Combine(Cache, "etc/debian_version"))) { kind = "debootstrap cache"; return Cache; }
        kind = "host files";
        var root = t["hostroot"];
        Tools.Sh($"""
            set -e
            mkdir -p {root}/usr/share {root}/var/lib {root}/tmp {root}/root
            cp -a /etc {root}/etc
            cp -a /usr/bin /usr/sbin {root}/usr/
            cp -a /usr/share/doc {root}/usr/share/doc
            cp -a /var/lib/dpkg {root}/var/lib/dpkg
            mkdir -p {root}/var/lib/apt/lists && cp -a /usr/share/common-licenses {root}/usr/share/ 2>/dev/null || true
            ln -s usr/bin {root}/bin; ln -s usr/sbin {root}/sbin
            chmod 1777 {root}/tmp
            """);
        return root;
    }

    [Fact]
    public void DebianImageMatchesUmociUnpackInEveryTransport()
    {
        Tools.RequireRoot();
        Tools.Require("umoci");
        Tools.Require("skopeo");
        Tools.Require("setfattr");
        using var t = new TempDir();
        var clock = Stopwatch.StartNew();
        var rootfs = RootfsSource(t, out var kind);
        var L = t["layout"];
        var B = t["bundle"];
        var R = B + "/rootfs";
        Tools.Sh($"""
            set -e
            umoci init --layout {L}
            umoci new --image {L}:base
            umoci config --image {L}:base --no-history --os linux --architecture amd64 \
              --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env LANG=C.UTF-8 \
              --config.cmd /bin/bash --config.workingdir / --config.label org.opencontainers.image.title=debian-test \
              --config.volume /data --config.exposedports 8080/tcp
            umoci unpack --image {L}:base {B} > /dev/null
            cp -a {rootfs}/. {R}/
            umoci repack --refresh-bundle --image {L}:stage1 {B}

            # layer 2: deletions and replacements (as the corpus script's layer 3)
            rm -f {R}/etc/motd {R}/usr/share/common-licenses/Artistic
            rm -rf {R}/usr/share/doc
            mkdir -p {R}/var/lib/apt/lists && find {R}/var/lib/apt/lists -mindepth 1 -delete
            rm -rf {R}/etc/cron.daily; printf 'cron.daily is now a file\n' > {R}/etc/cron.daily
            rm -rf {R}/etc/issue.net; mkdir {R}/etc/issue.net; printf 'banner\n' > {R}/etc/issue.net/banner
            rm -f {R}/etc/issue; ln -s issue.net/banner {R}/etc/issue
            mkdir -p {R}/etc/apt/apt.conf.d && find {R}/etc/apt/apt.conf.d -mindepth 1 -delete
            printf 'APT::Install-Recommends "false";\n' > {R}/etc/apt/apt.conf.d/99test
            printf '# layer 2\n' >> {R}/etc/bash.bashrc
            chmod 0600 {R}/etc/ld.so.conf 2>/dev/null || true
            chown 0:100 {R}/etc/host.conf 2>/dev/null || true
            touch -d '2001-02-03 04:05:06 UTC' {R}/etc/debian_version
            setfattr -n user.test.layer -v 2 {R}/etc/nsswitch.conf
            umoci repack --refresh-bundle --image {L}:stage2 {B}

            # layer 3: hardlinks to lower files, a directory replaced by a symlink, a re-created directory
            ln {R}/etc/passwd {R}/etc/passwd.link
            ln {R}/etc/debian_version {R}/debian_version.link
            rm -rf {R}/etc/issue.net; printf 'issue.net is a file again\n' > {R}/etc/issue.net
            rm -rf {R}/var/cache; ln -s /tmp {R}/var/cache
            mkdir -p {R}/opt/new/deeper; printf 'new\n' > {R}/opt/new/deeper/file
            umoci repack --refresh-bundle --image {L}:stage3 {B}
            umoci tag --image {L}:stage3 latest
            umoci unpack --image {L}:latest {t["ref"]} > /dev/null
            """);
        output.WriteLine($"rootfs from {kind}; umoci build + unpack: {clock.Elapsed.TotalSeconds:F1} s");

        clock.Restart();
        var options = new LayerStackOptions { SpillCompressedLayers = true };
        using var ours = SourceOpener.OpenStack($"oci:{L}:latest", new OpenOptions { Stack = options });
        var scan = clock.Elapsed;
        using var reference = new HostDirectory(t["ref"] + "/rootfs");
        TreeAssert.Equal(reference, ours.Merged, compareRoot: false);
        output.WriteLine($"oci: {ours.Merged.Walk().Count()} entries, scan+merge {scan.TotalSeconds:F2} s, compare {clock.Elapsed.TotalSeconds:F1} s; layers: " +
            string.Join(", ", ours.Layers.Select(l => $"{l.MemberCount} members {l.TarBytes >> 20} MiB {l.Compression}")));
        Assert.Equal(3, ours.Layers.Count);
        Assert.Null(ours.Merged.Lookup("usr/share/doc"));
        Assert.Equal(EntryType.Regular, ours.Merged.Stat("etc/issue.net").Type);
        Assert.Equal(ours.Merged.Stat("etc/passwd").Inode, ours.Merged.Stat("etc/passwd.link").Inode);
        Assert.Equal(new[] { "/bin/bash" }, ours.Source.Config.Cmd);
        Assert.Equal(new[] { "8080/tcp" }, ours.Source.Config.ExposedPorts);

        // The per-layer trees, stacked by the kernel, give the same tree.
        using (var mounts = new Mounts())
        {
            var lowers = new List<string>();
            for (int i = 0; i < ours.Layers.Count; i++)
            {
                Materialize.To(ours.GetLayer(i, WhiteoutFormat.Overlay), t[$"U{i}"]);
                lowers.Insert(0, t[$"U{i}"]);
            }
            using var stacked = new HostDirectory(mounts.Overlay(t["mnt"], lowers));
            TreeAssert.Equal(stacked, ours.Merged, compareRoot: false);
        }

        // skopeo's conversions read back to the same tree (docker save layout, OCI archive, zstd layers).
        Tools.Sh($"""
            set -e
            skopeo copy -q oci:{L}:latest docker-archive:{t["d.tar"]}:zar/debian:latest
            skopeo copy -q oci:{L}:latest oci-archive:{t["o.tar"]}:latest
            skopeo copy -q --dest-compress-format zstd oci:{L}:latest oci:{t["zstd"]}:latest
            """);
        foreach (var r in new[] { $"docker-archive:{t["d.tar"]}", $"oci-archive:{t["o.tar"]}:latest", $"oci:{t["zstd"]}:latest" })
        {
            clock.Restart();
            using var other = SourceOpener.OpenStack(r, new OpenOptions { Stack = options });
            TreeAssert.Equal(ours.Merged, other.Merged);
            output.WriteLine($"{r}: {clock.Elapsed.TotalSeconds:F1} s ({string.Join(", ", other.Layers.Select(l => l.Compression))})");
        }
    }
}
