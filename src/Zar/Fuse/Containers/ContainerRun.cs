using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Zar.Model;
using Zar.Oci;
using Zar.Sources.Images;

namespace Zar.Fuse.Containers;

public sealed class ContainerRunOptions
{
    /// <summary>The command; empty: the image's Cmd. The image's Entrypoint goes in front either way (as docker run does).</summary>
    public IReadOnlyList<string> Command { get; init; } = [];
    /// <summary>KEY=VALUE pairs that override the image's Env.</summary>
    public IReadOnlyList<string> Env { get; init; } = [];
    /// <summary>user, uid, user:group or uid:gid (names from the image's /etc/passwd and /etc/group); null: the image's User.</summary>
    public string? User { get; init; }
    public string? WorkingDir { get; init; }
    /// <summary>"none" (default: loopback only) or "host".</summary>
    public string Network { get; init; } = "none";
    public bool Terminal { get; init; }
    /// <summary>Options of the FUSE mount the container boots from (allow_other is always on: the container may change user).</summary>
    public FuseServerOptions? Mount { get; init; }
    /// <summary>
    /// The image as a single-device EROFS file: the kernel mounts it (loop) instead of the FUSE server serving
    /// it, which boots faster (measured on the Debian image: python3 -c in 95-146 ms cold instead of 229-273 ms).
    /// If the kernel refuses it, FUSE it is.
    /// </summary>
    public string? KernelErofsImage { get; init; }
}

/// <summary>
/// zar run: serves an image through FUSE as a container's read-only root and runs a command in it with
/// crun, from a generated OCI runtime config. crun runs in a private mount namespace (unshare) with no
/// cgroup manager: on a hybrid cgroup host the cgroup2 mount at /sys/fs/cgroup/unified is unmounted there
/// first, which crun needs. The exit code is the command's.
/// </summary>
public static class ContainerRun
{
    const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public static int Run(IReadOnlyFileSystem root, ImageConfig? config, ContainerRunOptions options)
    {
        var crun = FindProgram("crun") ?? throw new ZarException("crun is not installed (apt-get install crun)");
        var unshare = FindProgram("unshare") ?? throw new ZarException("unshare is not installed (apt-get install util-linux)");
        var process = Describe(root, config, options);
        var bundle = Directory.CreateTempSubdirectory("zar-run-").FullName;
        var rootfs = Path.Combine(bundle, "rootfs");
        Directory.CreateDirectory(rootfs);
        var id = $"zar-{Environment.ProcessId}-{Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..4])}";
        try
        {
            using var mount = MountRoot(root, rootfs, options);
            File.WriteAllBytes(Path.Combine(bundle, "config.json"), RuntimeSpec.Build(process, rootfs));
            return RunCrun(unshare, crun, bundle, id);
        }
        finally
        {
            try { Directory.Delete(bundle, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// The container's root at <paramref name="rootfs"/>. crun must find a directory for each of its mounts
    /// (/proc, /dev, /sys, ...) and cannot make one in a read-only root, so an image that lacks some (a
    /// minimal image, a busybox) gets them from a small directory of empty ones laid over it by a read-only
    /// kernel overlay; the image itself is never written.
    /// </summary>
    static IDisposable MountRoot(IReadOnlyFileSystem root, string rootfs, ContainerRunOptions options)
    {
        var points = RuntimeSpec.MountPoints.ToList();
        // /dev/pts and the like are made by crun inside the /dev it has just mounted, not in the image.
        var missing = points
            .Where(p => !points.Any(q => p.StartsWith(q + "/", StringComparison.Ordinal)))
            .Where(p => root.Lookup(p.TrimStart('/')) is not { IsDirectory: true }).ToList();
        if (missing.Count == 0) return MountImage(root, rootfs, options);
        var bundle = Path.GetDirectoryName(rootfs)!;
        var image = Path.Combine(bundle, "image");
        var skeleton = Path.Combine(bundle, "mountpoints");
        Directory.CreateDirectory(image);
        foreach (var p in missing) Directory.CreateDirectory(Path.Combine(skeleton, p.TrimStart('/')));
        var imageMount = MountImage(root, image, options);
        try
        {
            KernelMounts.MountReadOnlyOverlay([skeleton, image], rootfs);
        }
        catch
        {
            imageMount.Dispose();
            throw;
        }
        return new Stacked(new KernelMount(rootfs), imageMount);
    }

    sealed class Stacked(IDisposable top, IDisposable bottom) : IDisposable
    {
        public void Dispose()
        {
            try { top.Dispose(); }
            finally { bottom.Dispose(); }
        }
    }

    /// <summary>The image at <paramref name="target"/>: the kernel's EROFS mount when asked and possible, else the FUSE server.</summary>
    static IDisposable MountImage(IReadOnlyFileSystem root, string rootfs, ContainerRunOptions options)
    {
        var mountOptions = options.Mount ?? new FuseServerOptions();
        if (options.KernelErofsImage is { } image)
        {
            var r = RunQuietly("mount", "-t", "erofs", "-o", "loop,ro", image, rootfs);
            if (r.Code == 0) return new KernelMount(rootfs);
            mountOptions.Log?.Invoke($"{image}: the kernel did not mount it ({r.Error.Trim()}); serving it through FUSE");
        }
        return FuseServer.Mount(root, rootfs, new FuseServerOptions
        {
            AllowOther = true,
            Threads = mountOptions.Threads,
            Passthrough = mountOptions.Passthrough,
            ReadAheadKb = mountOptions.ReadAheadKb,
            FsName = mountOptions.FsName,
            Log = mountOptions.Log,
        });
    }

    sealed class KernelMount(string path) : IDisposable
    {
        public void Dispose() => KernelMounts.Unmount(path);
    }

    static (int Code, string Error) RunQuietly(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new ZarException($"cannot start {program}");
        var error = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, error.Result);
    }

    static int RunCrun(string unshare, string crun, string bundle, string id)
    {
        // In the private namespace: drop the hybrid-mode cgroup2 mount crun trips over, then become crun.
        const string Script = "umount /sys/fs/cgroup/unified 2>/dev/null || true; exec \"$1\" --cgroup-manager=disabled run --bundle \"$2\" \"$3\"";
        var psi = new ProcessStartInfo(unshare) { UseShellExecute = false };
        foreach (var a in new[] { "--mount", "--propagation", "private", "--", "/bin/sh", "-c", Script, "sh", crun, bundle, id })
            psi.ArgumentList.Add(a);
        using var child = Process.Start(psi) ?? throw new ZarException("cannot start crun");
        // Signals for zar go to the container (crun forwards them to its process); zar cleans up once it exits.
        void Forward(PosixSignalContext c)
        {
            c.Cancel = true;
            try { FuseNative.kill(child.Id, (int)SignalNumber(c.Signal)); } catch { }
        }
        using (PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward))
        using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward))
        using (PosixSignalRegistration.Create(PosixSignal.SIGHUP, Forward))
            child.WaitForExit();
        try { RunQuietly(crun, "--cgroup-manager=disabled", "delete", "--force", id); }
        catch (Exception e) when (e is ZarException or System.ComponentModel.Win32Exception) { }
        return child.ExitCode;
    }

    static int SignalNumber(PosixSignal s) => s switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGTERM => 15,
        _ => 15,
    };

    /// <summary>The process the container runs: the image's config with the command line's overrides.</summary>
    public static ContainerProcess Describe(IReadOnlyFileSystem root, ImageConfig? config, ContainerRunOptions options)
    {
        var args = new List<string>(config?.Entrypoint ?? []);
        args.AddRange(options.Command.Count > 0 ? options.Command : config?.Cmd ?? []);
        if (args.Count == 0) throw new ZarException("no command to run: give one after the image (it has no Entrypoint or Cmd)");

        var user = ImageUser.Resolve(root, options.User ?? config?.User);
        var env = new List<string>(config?.Env ?? []);
        foreach (var kv in options.Env) Set(env, kv);
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal))) env.Insert(0, DefaultPath);
        if (!env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal))) env.Add("HOME=" + user.Home);
        if (options.Terminal && !env.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal))) env.Add("TERM=xterm");
        var cwd = options.WorkingDir ?? config?.WorkingDir;
        return new ContainerProcess
        {
            Args = args,
            Env = env,
            Cwd = string.IsNullOrEmpty(cwd) ? "/" : cwd,
            Uid = user.Uid,
            Gid = user.Gid,
            AdditionalGids = user.Groups,
            Terminal = options.Terminal,
            IsolateNetwork = options.Network switch
            {
                "none" => true,
                "host" => false,
                var other => throw new ZarException($"--network {other}: expected none or host"),
            },
        };
    }

    static void Set(List<string> env, string pair)
    {
        int eq = pair.IndexOf('=');
        if (eq <= 0) throw new ZarException($"--env {pair}: expected KEY=VALUE");
        var key = pair[..(eq + 1)];
        env.RemoveAll(e => e.StartsWith(key, StringComparison.Ordinal));
        env.Add(pair);
    }

    static string? FindProgram(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            if (dir.Length == 0) continue;
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}

/// <summary>A user of the image: numbers from its /etc/passwd and /etc/group, as a container runtime resolves them.</summary>
public sealed record ImageUser(uint Uid, uint Gid, string Home, IReadOnlyList<uint> Groups)
{
    /// <summary>"", "name", "uid", "name:group", "uid:gid"; names must be in the image.</summary>
    public static ImageUser Resolve(IReadOnlyFileSystem fs, string? spec)
    {
        if (string.IsNullOrEmpty(spec)) spec = "0";
        var parts = spec.Split(':', 2);
        var passwd = Table(fs, "etc/passwd");
        var groups = Table(fs, "etc/group");
        string[]? account = uint.TryParse(parts[0], out uint uid)
            ? passwd.FirstOrDefault(f => f.Length > 2 && f[2] == parts[0])
            : passwd.FirstOrDefault(f => f[0] == parts[0]) ?? throw new ZarException($"user '{parts[0]}' is not in the image's /etc/passwd");
        if (account != null && !uint.TryParse(parts[0], out uid)) uid = uint.Parse(account[2]);
        uint gid = account != null && account.Length > 3 && uint.TryParse(account[3], out var g) ? g : 0;
        if (parts.Length == 2)
        {
            if (!uint.TryParse(parts[1], out gid))
            {
                var group = groups.FirstOrDefault(f => f[0] == parts[1]) ?? throw new ZarException($"group '{parts[1]}' is not in the image's /etc/group");
                gid = uint.Parse(group[2]);
            }
        }
        var name = account?[0];
        var extra = name == null ? new List<uint>() : groups
            .Where(f => f.Length > 3 && f[3].Split(',').Contains(name) && uint.TryParse(f[2], out _))
            .Select(f => uint.Parse(f[2])).Where(x => x != gid).Distinct().ToList();
        var home = account != null && account.Length > 5 && account[5].Length > 0 ? account[5] : "/";
        return new ImageUser(uid, gid, home, extra);
    }

    /// <summary>The colon-separated lines of a file of the image (empty when it has none).</summary>
    static List<string[]> Table(IReadOnlyFileSystem fs, string path)
    {
        var e = fs.Lookup(path);
        for (int hops = 0; e is { Type: EntryType.Symlink } && hops < 8; hops++)
        {
            var target = e.LinkTarget!;
            var resolved = ZarPath.NormalizeClamped(target.StartsWith('/') ? target : ZarPath.Join(ZarPath.Parent(e.Path), target));
            e = fs.Lookup(resolved);
        }
        if (e is not { IsRegular: true } || e.Size > 16 << 20) return [];
        return Encoding.UTF8.GetString(fs.ReadAllBytes(e)).Split('\n')
            .Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split(':')).Where(f => f.Length >= 3).ToList();
    }
}
