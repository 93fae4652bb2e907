using Microsoft.Win32.SafeHandles;
using Zar.Model;
using Zar.Native;

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
    readonly SafeFileHandle _handle;

    public AtomicFile(string finalPath)
    {
        FinalPath = Path.GetFullPath(finalPath);
        var dir = Path.GetDirectoryName(FinalPath)!;
        if (!Directory.Exists(dir)) throw new ZarException($"{finalPath}: directory {dir} does not exist");
        if (Directory.Exists(FinalPath)) throw new ZarException($"{finalPath}: is a directory");
        TempPath = Path.Combine(dir, "." + Path.GetFileName(FinalPath) + ".tmp-" + Guid.NewGuid().ToString("N")[..12]);
        Stream = new FileStream(TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        // Taken now, while the stream's buffer is empty: the getter flushes it, which only the writing thread may do.
        _handle = Stream.SafeFileHandle;
        Writeback.Add(_handle);
    }

    void StopWriteback() => Writeback.Remove(_handle);

    public void Commit()
    {
        StopWriteback();
        Stream.Flush(flushToDisk: true);
        Stream.Dispose();
        File.Move(TempPath, FinalPath, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        StopWriteback();
        Stream.Dispose();
        try { File.Delete(TempPath); } catch (IOException) { }
    }
}

/// <summary>
/// The fsync before an <see cref="AtomicFile"/>'s rename is what makes it safe; started early, the disk writes
/// overlap the work instead of following it. One background thread asks the kernel, every few tens of
/// milliseconds, to begin writing back what is dirty in each open output (sync_file_range WRITE starts I/O and
/// does not wait for it), so the final fsync finds little left.
/// </summary>
static class Writeback
{
    const int IntervalMilliseconds = 40;
    static readonly List<SafeFileHandle> Files = new();
    static readonly AutoResetEvent Work = new(false);
    static Thread? _thread;

    public static void Add(SafeFileHandle file)
    {
        lock (Files)
        {
            Files.Add(file);
            if (_thread == null)
            {
                _thread = new Thread(Run) { IsBackground = true, Name = "zar writeback" };
                _thread.Start();
            }
        }
        Work.Set();
    }

    /// <summary>After this returns the thread no longer touches <paramref name="file"/>.</summary>
    public static void Remove(SafeFileHandle file)
    {
        lock (Files) Files.Remove(file);
    }

    static void Run()
    {
        while (true)
        {
            bool any;
            lock (Files) any = Files.Count > 0;
            if (!any) { Work.WaitOne(); continue; }
            Thread.Sleep(IntervalMilliseconds);
            lock (Files)
                foreach (var f in Files)
                {
                    bool added = false;
                    try
                    {
                        f.DangerousAddRef(ref added);
                        Libc.sync_file_range((int)f.DangerousGetHandle(), 0, 0, Libc.SYNC_FILE_RANGE_WRITE);
                    }
                    catch (ObjectDisposedException) { }
                    finally { if (added) f.DangerousRelease(); }
                }
        }
    }
}
