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

    /// <summary>A kernel overlay: <paramref name="lower"/> read-only under the writable <paramref name="upper"/>.</summary>
    internal static void MountOverlay(string lower, string upper, string work, string target)
    {
        var data = $"lowerdir={EscapeOverlayPath(lower)},upperdir={EscapeOverlayPath(upper)},workdir={EscapeOverlayPath(work)}";
        Mount("zar-overlay", target, "overlay", 0, data);
    }

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
            if (errno == FuseNative.EPERM) throw new ZarException($"{mountPoint}: cannot unmount: permission denied (unmounting needs root)");
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
