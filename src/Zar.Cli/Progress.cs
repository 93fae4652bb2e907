using Spectre.Console;
using Zar.IO;

namespace Zar.Cli;

/// <summary>Progress bars on stderr when it is a terminal; nothing otherwise, so piped output stays parseable.</summary>
static class ProgressBar
{
    public static bool Interactive => !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") != "dumb";

    public static T Run<T>(string title, long total, Func<IProgress<long>?, T> work) =>
        Multi(sink =>
        {
            var bar = total > 0 ? sink.Task(title, total) : null;
            var result = work(bar);
            bar?.Report(total);
            return result;
        });

    /// <summary>Several bars (downloads, layers, writing) added as the work discovers them.</summary>
    public static T Multi<T>(Func<ProgressSink, T> work)
    {
        if (!Interactive) return work(ProgressSink.None);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(ctx => result = work(new ProgressSink(ctx)));
        return result;
    }
}

sealed class ProgressSink
{
    public static readonly ProgressSink None = new(null);
    readonly ProgressContext? _ctx;
    readonly Dictionary<string, ProgressTask> _tasks = new();

    public ProgressSink(ProgressContext? ctx) => _ctx = ctx;

    /// <summary>A bar that reports absolute progress (bytes done so far); null when there is no terminal.</summary>
    public IProgress<long>? Task(string name, long total)
    {
        if (_ctx == null) return null;
        var task = Get(name, total);
        return new SyncProgress<long>(v => { lock (_tasks) task.Value = Math.Min(v, task.MaxValue); });
    }

    /// <summary>Reports for a named bar that is created on first use (e.g. one per blob being downloaded).</summary>
    public void Report(string name, long done, long total, bool completed)
    {
        if (_ctx == null) return;
        lock (_tasks)
        {
            var task = Get(name, Math.Max(1, total));
            if (total > 0) task.MaxValue = total;
            task.Value = completed ? task.MaxValue : Math.Min(done, task.MaxValue);
        }
    }

    ProgressTask Get(string name, long total)
    {
        lock (_tasks)
        {
            if (!_tasks.TryGetValue(name, out var t)) _tasks[name] = t = _ctx!.AddTask(name, maxValue: Math.Max(1, total));
            return t;
        }
    }
}
