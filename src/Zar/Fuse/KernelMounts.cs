using Zar.Model;

namespace Zar.Fuse;

public enum UnmountResult
{
    /// <summary>Unmounted: nothing was using it.</summary>
    Unmounted,
    /// <summary>Busy: detached from the tree (MNT_DETACH); it goes away when its last user does.</summary>
    Detached,
}

/// <summary>The kernel mounts behind <c>zar mount</c>: the FUSE mount itself, an overlay on top, unmounting.</summary>
public static unsafe class KernelMounts
{
    /// <summary>The filesystem type a zar FUSE mount shows in the mount table.</summary>
    public const string FuseType = "fuse.zar";

    /// <summary>Mounts the FUSE connection open on <paramref name="fd"/> at <paramref name="target"/>, read-only.</summary>
    internal static void MountFuse(int fd, string target, string source, bool allowOther)
    {
        // default_permissions: the kernel checks modes and owners itself (no ACCESS round trips, and nobody
        // reads a 0600 file of the image through the mount); rootmode is the type bits of the root.
        var data = $"fd={fd},rootmode=40000,user_id={FuseNative.getuid()},group_id={FuseNative.getgid()},default_permissions" +
                   (allowOther ? ",allow_other" : "");
        Mount(source, target, FuseType, FuseNative.MS_RDONLY | FuseNative.MS_NODEV, data);
    }

    /// <summary>
    /// Mounts without root through the setuid fusermount3 (the fuse3 package): it opens /dev/fuse, mounts, and
    /// hands the descriptor back over the socket named by _FUSE_COMMFD. Returns the connection's descriptor.
    /// </summary>
    internal static int MountFuseUnprivileged(string target, string source, bool allowOther)
    {
        var fusermount = new[] { "/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3" }.FirstOrDefault(File.Exists)
            ?? throw new ZarException($"{target}: mounting without root needs fusermount3 (apt-get install fuse3)");
        var sockets = stackalloc int[2];
        // The parent's end is close-on-exec; the child's end is inherited by fusermount3.
        if (FuseNative.socketpair(FuseNative.AF_UNIX, FuseNative.SOCK_STREAM, 0, sockets) != 0)
            throw new ZarException($"cannot create a socket pair: {FuseNative.ErrorText(FuseNative.Errno)}");
        int ours = sockets[0], theirs = sockets[1];
        try
        {
            SetCloseOnExec(ours);
            var options = $"ro,nodev,nosuid,default_permissions,subtype=zar,fsname={source.Replace(",", "_")}" + (allowOther ? ",allow_other" : "");
            var psi = new System.Diagnostics.ProcessStartInfo(fusermount) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in new[] { "-o", options, "--", target }) psi.ArgumentList.Add(a);
            psi.Environment["_FUSE_COMMFD"] = theirs.ToString();
            using var p = System.Diagnostics.Process.Start(psi) ?? throw new ZarException("cannot start fusermount3");
            FuseNative.close(theirs);
            theirs = -1;
            int fd = ReceiveDescriptor(ours);
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (fd < 0) throw new ZarException($"{target}: fusermount3 could not mount: {error.Trim().ReplaceLineEndings(" ")}");
            return fd;
        }
        finally
        {
            FuseNative.close(ours);
            if (theirs >= 0) FuseNative.close(theirs);
        }
    }

    static void SetCloseOnExec(int fd)
    {
        const int F_SETFD = 2, FD_CLOEXEC = 1;
        FuseNative.fcntl(fd, F_SETFD, FD_CLOEXEC);
    }

    /// <summary>The descriptor passed with SCM_RIGHTS on a socket, or -1 when the sender closed it without one.</summary>
    static int ReceiveDescriptor(int socket)
    {
        byte data;
        var iov = new FuseNative.IoVec { Base = &data, Len = 1 };
        var control = stackalloc byte[64];
        var msg = new FuseNative.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
        nint n;
        do n = FuseNative.recvmsg(socket, &msg, 0);
        while (n < 0 && FuseNative.Errno == FuseNative.EINTR);
        if (n <= 0 || msg.ControlLen < (nuint)(sizeof(FuseNative.CmsgHdr) + sizeof(int))) return -1;
        var header = (FuseNative.CmsgHdr*)control;
        if (header->Level != FuseNative.SOL_SOCKET || header->Type != FuseNative.SCM_RIGHTS) return -1;
        return *(int*)(control + sizeof(FuseNative.CmsgHdr));
    }

    /// <summary>A kernel overlay: <paramref name="lower"/> read-only under the writable <paramref name="upper"/>.</summary>
    internal static void MountOverlay(string lower, string upper, string work, string target)
    {
        var data = $"lowerdir={EscapeOverlayPath(lower)},upperdir={EscapeOverlayPath(upper)},workdir={EscapeOverlayPath(work)}";
        Mount("zar-overlay", target, "overlay", 0, data);
    }

    /// <summary>A read-only kernel overlay of <paramref name="lowers"/> (top first), no upper directory.</summary>
    internal static void MountReadOnlyOverlay(IReadOnlyList<string> lowers, string target) =>
        Mount("zar-overlay", target, "overlay", MS_RDONLY, "lowerdir=" + string.Join(':', lowers.Select(EscapeOverlayPath)));

    const ulong MS_RDONLY = 1;

    static string EscapeOverlayPath(string p) => p.Replace("\\", "\\\\").Replace(",", "\\,").Replace(":", "\\:");

    static void Mount(string source, string target, string type, ulong flags, string data)
    {
        fixed (byte* s = FuseNative.Z(source)) fixed (byte* t = FuseNative.Z(target)) fixed (byte* ty = FuseNative.Z(type)) fixed (byte* d = FuseNative.Z(data))
        {
            if (FuseNative.mount(s, t, ty, flags, d) == 0) return;
            int errno = FuseNative.Errno;
            var why = errno == FuseNative.EPERM ? "permission denied (mounting needs root)" : FuseNative.ErrorText(errno);
            throw new ZarException($"{target}: cannot mount {type}: {why}");
        }
    }

    /// <summary>
    /// Unmounts <paramref name="mountPoint"/>; when it is busy, detaches it (it disappears from the tree now
    /// and goes away when its last user does). A mount whose server died (ENOTCONN on every access) unmounts
    /// the same way. Not a mount point: a <see cref="ZarException"/>.
    /// </summary>
    public static UnmountResult Unmount(string mountPoint)
    {
        var full = Path.GetFullPath(mountPoint);
        fixed (byte* t = FuseNative.Z(full))
        {
            if (FuseNative.umount2(t, 0) == 0) return UnmountResult.Unmounted;
            int errno = FuseNative.Errno;
            if (errno == FuseNative.EBUSY && FuseNative.umount2(t, FuseNative.MNT_DETACH) == 0) return UnmountResult.Detached;
            if (errno == FuseNative.EBUSY) errno = FuseNative.Errno;
            if (errno == FuseNative.EINVAL) throw new ZarException($"{mountPoint}: not mounted");
            if (errno == FuseNative.ENOENT) throw new ZarNotFoundException($"{mountPoint}: no such directory");
            if (errno == FuseNative.EPERM && FuseNative.geteuid() != 0) return UnmountUnprivileged(full);
            if (errno == FuseNative.EPERM) throw new ZarException($"{mountPoint}: cannot unmount: permission denied");
            throw new ZarException($"{mountPoint}: cannot unmount: {FuseNative.ErrorText(errno)}");
        }
    }

    /// <summary>False when the FUSE mount at <paramref name="mountPoint"/> has lost its server (statfs answers ENOTCONN).</summary>
    internal static bool IsConnected(string mountPoint)
    {
        var buf = stackalloc byte[512];
        fixed (byte* p = FuseNative.Z(mountPoint))
            return FuseNative.statfs(p, buf) == 0 || FuseNative.Errno != FuseNative.ENOTCONN;
    }

    /// <summary>A user's own FUSE mount: fusermount3 -u unmounts it (-z detaches it when busy).</summary>
    static UnmountResult UnmountUnprivileged(string mountPoint)
    {
        var fusermount = new[] { "/usr/bin/fusermount3", "/bin/fusermount3" }.FirstOrDefault(File.Exists)
            ?? throw new ZarException($"{mountPoint}: cannot unmount: permission denied (and no fusermount3)");
        foreach (var (flags, result) in new[] { ("-u", UnmountResult.Unmounted), ("-uz", UnmountResult.Detached) })
        {
            var psi = new System.Diagnostics.ProcessStartInfo(fusermount) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var a in new[] { flags, "--", mountPoint }) psi.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(psi)!;
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode == 0) return result;
            if (!error.Contains("busy", StringComparison.OrdinalIgnoreCase))
                throw new ZarException($"{mountPoint}: cannot unmount: {error.Trim().ReplaceLineEndings(" ")}");
        }
        throw new ZarException($"{mountPoint}: cannot unmount: busy");
    }

    /// <summary>Detaches a mount from the tree at once (MNT_DETACH); false when it was not mounted.</summary>
    internal static bool Detach(string mountPoint)
    {
        fixed (byte* t = FuseNative.Z(mountPoint)) return FuseNative.umount2(t, FuseNative.MNT_DETACH) == 0;
    }

    /// <summary>
    /// Aborts a FUSE connection through the fusectl filesystem: every request in flight and to come fails
    /// with ENOTCONN, the server's reads end. What makes a busy or wedged mount let go.
    /// </summary>
    internal static bool AbortConnection(int deviceMinor)
    {
        const string Control = "/sys/fs/fuse/connections";
        var abort = $"{Control}/{deviceMinor}/abort";
        if (!File.Exists(abort) && Directory.Exists(Control))
        {
            fixed (byte* s = FuseNative.Z("fusectl")) fixed (byte* t = FuseNative.Z(Control)) fixed (byte* ty = FuseNative.Z("fusectl"))
                FuseNative.mount(s, t, ty, 0, null);
        }
        try
        {
            File.WriteAllText(abort, "1");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Sets the read-ahead of a FUSE mount's backing device (the kernel caps it at what it offered in INIT otherwise).</summary>
    internal static void SetReadAhead(int deviceMajor, int deviceMinor, int kilobytes)
    {
        try { File.WriteAllText($"/sys/class/bdi/{deviceMajor}:{deviceMinor}/read_ahead_kb", kilobytes.ToString()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
