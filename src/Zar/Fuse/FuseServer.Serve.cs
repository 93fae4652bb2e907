using System.Runtime.InteropServices;

namespace Zar.Fuse;

public sealed partial class FuseServer
{
    /// <summary>
    /// Serves until the mount goes away: SIGINT, SIGTERM or SIGHUP unmount (a busy mount is detached and
    /// served until its last user leaves); a second signal aborts the connection. <paramref name="notify"/>
    /// hears what happens ("busy: detached ..."), for the command line to print.
    /// </summary>
    public void ServeUntilUnmounted(Action<string>? notify = null)
    {
        int signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref signals) == 1)
            {
                // Off the signal thread: unmounting waits for the kernel, which may wait for this server.
                ThreadPool.QueueUserWorkItem(_ =>
                {
                    try
                    {
                        if (Unmount() == UnmountResult.Detached)
                            notify?.Invoke($"{MountPoint} is busy: detached, serving open files until they are closed (signal again to abort)");
                    }
                    catch (Exception e) { notify?.Invoke(e.Message); }
                });
            }
            else Abort();
        }
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        Completion.Wait();
    }
}
