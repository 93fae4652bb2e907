using Zar.Model;

namespace Zar.IO;

/// <summary>
/// An output file written under a temporary name beside its final path and renamed into place
/// only on <see cref="Commit"/>: a crash or error never leaves a half file under the final
/// name, and an existing file there stays intact until the new one is complete.
/// </summary>
public sealed class AtomicFile : IDisposable
{
    public string FinalPath { get; }
    public string TempPath { get; }
    public FileStream Stream { get; }
    bool _committed;

    public AtomicFile(string finalPath)
    {
        FinalPath = Path.GetFullPath(finalPath);
        var dir = Path.GetDirectoryName(FinalPath)!;
        if (!Directory.Exists(dir)) throw new ZarException($"{finalPath}: directory {dir} does not exist");
        if (Directory.Exists(FinalPath)) throw new ZarException($"{finalPath}: is a directory");
        TempPath = Path.Combine(dir, "." + Path.GetFileName(FinalPath) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        Stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
    }

    public void Commit()
    {
        Stream.Flush(flushToDisk: true);
        Stream.Dispose();
        File.Move(TempPath, FinalPath, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        Stream.Dispose();
        try { File.Delete(TempPath); } catch (IOException) { }
    }
}
