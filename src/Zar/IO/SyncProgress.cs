namespace Zar.IO;

/// <summary>
/// Reports on the reporting thread, as the work happens. <see cref="Progress{T}"/> posts each report to
/// the thread pool (or a captured context), so a bar fed by it can still move after the work is done.
/// </summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
