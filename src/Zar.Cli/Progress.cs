using Spectre.Console;

namespace Zar.Cli;

/// <summary>A progress bar on stderr when it is a terminal; nothing otherwise, so piped output stays parseable.</summary>
static class ProgressBar
{
    public static bool Interactive => !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb";

    public static T Run<T>(string title, long total, Func<IProgress<long>?, T> work)
    {
        if (!Interactive || total <= 0) return work(null);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(title, maxValue: total);
                result = work(new Progress<long>(v => task.Value = Math.Min(v, total)));
                task.Value = total;
            });
        return result;
    }
}
