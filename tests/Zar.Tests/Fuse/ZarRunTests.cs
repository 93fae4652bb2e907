using Zar.Tests.Support;

namespace Zar.Tests.Fuse;

/// <summary>zar run: a container (crun) boots from the Debian image served through FUSE.</summary>
[Trait("Category", "Long")]
public sealed class ZarRunTests
{
    [Fact]
    public void ContainerBootsFromTheMountedDebianImage()
    {
        DebianCorpus.Require();
        Tools.RequireRoot();
        Tools.Require("crun");
        var os = ZarCli.Run("run", DebianCorpus.Reference, "cat", "/etc/os-release");
        Assert.True(os.Code == 0, os.Err);
        Assert.Contains("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"", os.Out);
        Assert.Contains("ID=debian", os.Out);

        var python = ZarCli.Run("run", DebianCorpus.Reference, "--", "python3", "-c", "print(6*7)");
        Assert.True(python.Code == 0, python.Err);
        Assert.Equal("42\n", python.Out);
    }

    [Fact]
    public void ContainerRootIsReadOnlyTmpIsWritableAndTheNetworkIsLoopbackOnly()
    {
        DebianCorpus.Require();
        Tools.RequireRoot();
        Tools.Require("crun");
        var r = ZarCli.Run("run", "-e", "GREETING=hi there", "-w", "/etc", DebianCorpus.Reference, "--", "/bin/sh", "-c",
            "echo \"$GREETING\"; pwd; touch /x 2>&1; echo t > /tmp/t && cat /tmp/t; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; exit 7");
        Assert.True(r.Code == 7, r.Err);
        Assert.Equal(["hi there", "/etc", "touch: cannot touch '/x': Read-only file system", "t", "lo"], r.Out.TrimEnd().Split('\n'));
        Assert.Empty(Directory.GetDirectories(Path.GetTempPath(), "zar-run-*"));
    }

    [Fact]
    public void AnErofsImageBootsFromTheKernelMountOrThroughFuse()
    {
        DebianCorpus.Require();
        Tools.RequireRoot();
        Tools.Require("crun");
        using var t = new TempDir();
        var convert = ZarCli.Run("convert", DebianCorpus.Reference, "--format", "erofs", "-o", t["debian.erofs"]);
        Assert.True(convert.Code == 0, convert.Err);
        const string Script = "awk '$5 == \"/\" { print $(NF-2) }' /proc/self/mountinfo; python3 -c 'print(6*7)'";
        var kernel = ZarCli.Run("run", t["debian.erofs"], "--", "/bin/sh", "-c", Script);
        Assert.True(kernel.Code == 0, kernel.Err);
        Assert.Equal("erofs\n42\n", kernel.Out);
        var fuse = ZarCli.Run("run", "--fuse", t["debian.erofs"], "--", "/bin/sh", "-c", Script);
        Assert.True(fuse.Code == 0, fuse.Err);
        Assert.Equal("fuse.zar\n42\n", fuse.Out);
    }

    [Fact]
    public void AnImageWithoutMountPointDirectoriesBootsAndStaysUntouched()
    {
        Tools.RequireRoot();
        Tools.Require("crun");
        var busybox = Tools.Require("busybox");
        if (!Tools.Sh($"file -L {busybox}").Contains("statically linked"))
        {
            Assert.False(Tools.InCI, "busybox is not the static one: install busybox-static");
            Assert.Skip("busybox is not the static one (busybox-static)");
        }
        using var t = new TempDir();
        // Only /bin: no /proc, /dev, /sys or /tmp for crun to mount on.
        Directory.CreateDirectory(t["root/bin"]);
        File.Copy(busybox, t["root/bin/busybox"]);
        File.CreateSymbolicLink(t["root/bin/sh"], "busybox");
        var create = ZarCli.Run("create", t["root"], "-o", t["tiny.zar"]);
        Assert.True(create.Code == 0, create.Err);
        var r = ZarCli.Run("run", t["tiny.zar"], "--", "/bin/busybox", "sh", "-c", "/bin/busybox ls -d /proc/self /dev/null /tmp && echo t > /tmp/t && /bin/busybox cat /tmp/t");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(["/dev/null", "/proc/self", "/tmp", "t"], r.Out.TrimEnd().Split('\n'));
        // The image itself still has only /bin.
        Assert.Equal("bin\n", ZarCli.Run("ls", t["tiny.zar"]).Out);
    }
}
