namespace Zar.Tests.Support;

/// <summary>Runs the real `zar` CLI (the built Zar.Cli.dll) as a process, as a user would.</summary>
public static class ZarCli
{
    static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll");

    public static (int Code, string Out, string Err) Run(params string[] args) => RunIn(null, args);

    public static (int Code, string Out, string Err) RunIn(string? cwd, params string[] args) =>
        Tools.Run("dotnet", new[] { Dll }.Concat(args), cwd, timeoutMs: 600_000);
}
