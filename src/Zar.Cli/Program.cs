using System.CommandLine;
using Zar.Cli;
using Zar.Model;

// Exit codes: 0 ok, 1 differences found (diff/verify), 2 bad input or usage, 3 internal error (a bug).
try
{
    if (SeedCli.IsSeedInvocation(args)) return SeedCli.Run(args);
    var root = Commands.Build();
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
    {
        Console.Error.WriteLine($"zar: {parsed.Errors[0].Message} (see 'zar --help')");
        return 2;
    }
    return parsed.Invoke();
}
catch (ZarException e)
{
    Console.Error.WriteLine($"zar: {e.Message}");
    return e.ExitCode;
}
catch (Exception e)
{
    Console.Error.WriteLine($"zar: internal error: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
    return 3;
}
