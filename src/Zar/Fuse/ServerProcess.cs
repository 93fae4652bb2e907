namespace Zar.Fuse;

/// <summary>What a server process does to outlive the command that started it.</summary>
public static unsafe class ServerProcess
{
    /// <summary>A session of its own: no controlling terminal, so the terminal's signals and hang-up do not reach it.</summary>
    public static void NewSession() => FuseNative.setsid();

    /// <summary>Points stdin, stdout and stderr at /dev/null: whoever read them is gone.</summary>
    public static void DetachStandardStreams()
    {
        fixed (byte* p = "/dev/null\0"u8)
        {
            int fd = FuseNative.open(p, FuseNative.O_RDWR, 0);
            if (fd < 0) return;
            for (int i = 0; i <= 2; i++) FuseNative.dup2(fd, i);
            if (fd > 2) FuseNative.close(fd);
        }
    }
}
