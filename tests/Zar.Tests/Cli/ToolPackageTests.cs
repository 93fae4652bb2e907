using Zar.Tests.Support;

namespace Zar.Tests.Cli;

/// <summary>The program is `zar`: as published (out/zar/zar) and as a .NET tool installed from a folder with no other package source.</summary>
public class ToolPackageTests
{
    [Fact]
    public void PublishedProgramIsNamedZar()
    {
        using var t = new TempDir();
        // --no-build publishes what the test build already compiled.
        var publish = Tools.Run("dotnet", ["publish", Path.Combine(ZarCli.RepositoryRoot, "src", "Zar.Cli"), "--no-build", "-c", ZarCli.BuildConfiguration,
            "-o", t["out"], "--nologo", "-v", "q"]);
        Assert.True(publish.Code == 0, publish.Out + publish.Err);
        Assert.False(File.Exists(t["out/Zar.Cli"]), "one launcher, named zar");
        var version = Tools.Run(t["out/zar"], ["--version"]);
        Assert.True(version.Code == 0, version.Err);
        Assert.Equal(ZarCli.Run("--version").Out, version.Out);
    }

    [Fact]
    public void PackedToolInstallsFromAFolderAndRunsAsZar()
    {
        using var t = new TempDir();
        // --no-build packs what the test build already compiled (seconds, not a second build); the publish
        // step goes to a temp folder so the checkout's bin/ is left alone.
        var pack = Tools.Run("dotnet", ["pack", Path.Combine(ZarCli.RepositoryRoot, "src", "Zar.Cli"), "--no-build", "-c", ZarCli.BuildConfiguration,
            "-o", t["nupkg"], $"-p:PublishDir={t["publish"]}/", "--nologo", "-v", "q"]);
        Assert.True(pack.Code == 0, pack.Out + pack.Err);
        Assert.Equal(["Zar.Cli.0.1.0.nupkg"], Directory.GetFiles(t["nupkg"]).Select(Path.GetFileName));

        // Only the folder is a source: the install works offline and cannot pick anything else up.
        File.WriteAllText(t["nuget.config"], $"""
            <configuration>
              <packageSources>
                <clear />
                <add key="zar" value="{t["nupkg"]}" />
              </packageSources>
            </configuration>
            """);
        var install = Tools.Run("dotnet", ["tool", "install", "--tool-path", t["tools"], "--configfile", t["nuget.config"], "Zar.Cli"]);
        Assert.True(install.Code == 0, install.Out + install.Err);

        var zar = t["tools/zar"];
        var version = Tools.Run(zar, ["--version"]);
        Assert.True(version.Code == 0, version.Err);
        Assert.Equal(ZarCli.Run("--version").Out, version.Out);
        Assert.StartsWith("0.1.0", version.Out);

        Directory.CreateDirectory(t["tree/etc"]);
        File.WriteAllText(t["tree/etc/motd"], "hi\n");
        var ls = Tools.Run(zar, ["ls", "-R", t["tree"]]);
        Assert.True(ls.Code == 0, ls.Err);
        Assert.Equal("etc\netc/motd\n", ls.Out);
    }
}
