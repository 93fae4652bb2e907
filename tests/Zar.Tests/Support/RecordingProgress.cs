namespace Zar.Tests.Support;

/// <summary>The tests' progress sink: every report, synchronously and in order, added to a list (locked: some work reports from several threads).</summary>
public sealed class RecordingProgress<T>(List<T> into) : IProgress<T>
{
    public void Report(T value) { lock (into) into.Add(value); }
}
