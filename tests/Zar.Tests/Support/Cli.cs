namespace Zar.Tests.Support;

/// <summary>Runs the real `zar` CLI (the built Zar.Cli.dll) as a process, as a user would.</summary>
public static class ZarCli
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll");

    public static (int Code, string Out, string Err) Run(params string[] args) => RunIn(null, args);

    public static (int Code, string Out, string Err) RunIn(string? cwd, params string[] args) =>
        Tools.Run("dotnet", new[] { Dll }.Concat(args), cwd, timeoutMs: 600_000);

    /// <summary>The checkout the tests were built from (the folder holding Zar.slnx).</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Zar.slnx"))) return dir.FullName;
            throw new InvalidOperationException($"no Zar.slnx above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Debug or Release: the configuration these tests (and so the CLI project) were built in (…/bin/CONFIG/TFM/).</summary>
    public static string BuildConfiguration =>
        new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
}
