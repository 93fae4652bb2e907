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
}
