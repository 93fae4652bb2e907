using System.CommandLine;
using System.Diagnostics;
using Zar.Fuse;
using Zar.Model;
using Zar.Overlay;

namespace Zar.Cli;

/// <summary>zar mount, zar umount and zar run: images served through FUSE, and containers booted from them.</summary>
static class MountCommands
{
    /// <summary>Set in the environment of the re-executed server of <c>zar mount --background</c>.</summary>
    const string DaemonVariable = "ZAR_MOUNT_DAEMON";

    public static void AddTo(Command root)
    {
        root.Subcommands.Add(Mount());
        root.Subcommands.Add(Umount());
        root.Subcommands.Add(RunCommand.Build());
    }

    internal static readonly Option<string[]> MountOptions = new("-o")
    {
        Description = "mount options, comma-separated: allow_other (let other users see the files)",
        AllowMultipleArgumentsPerToken = false,
    };

    internal static readonly Option<int> Threads = new("--threads") { Description = "threads serving requests (default: twice the processors, 4 to 16)" };

    static Command Mount()
    {
        var paths = new Argument<string[]>("SOURCE... MOUNTPOINT")
        {
            Description = "images to mount (several: a stack of layers, bottom first) and the directory to mount them on",
            Arity = new ArgumentArity(2, 1000),
        };
        var background = new Option<bool>("--background") { Description = "detach once mounted (prints one 'mounted at' line); stop it with zar umount" };
        var writable = new Option<string>("--writable") { Description = "put a kernel overlayfs on top, keeping changes in this directory (UPPER/upper, UPPER/work)" };
        var passthrough = new Option<bool>("--passthrough") { Description = "FUSE passthrough (kernel 6.9+) for files that are whole local files (a directory source)" };
        var log = new Option<string>("--log") { Description = "append the server's warnings (reader errors served as EIO, ...) to this file" };
        var cmd = new Command("mount", "mount images read-only through FUSE (root): zar, EROFS, per-layer stacks, image references; " +
            "in the foreground until unmounted (zar umount, Ctrl-C)") { paths, background, writable, passthrough, MountOptions, Threads, log };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var all = p.GetValue(paths)!;
            var sources = all[..^1];
            var mountPoint = all[^1];
            bool daemon = Environment.GetEnvironmentVariable(DaemonVariable) == "1";
            if (p.GetValue(background) && !daemon) return Detach(mountPoint);
            if (daemon) ServerProcess.NewSession();

            var logFile = p.GetValue(log);
            Action<string> warn = daemon && logFile == null ? _ => { } : message => Warn(logFile, message);
            using var fs = OpenStack(p, sources);
            using var server = FuseServer.Mount(fs, mountPoint, new FuseServerOptions
            {
                AllowOther = ParseMountOptions(p.GetValue(MountOptions)),
                WritableUpper = p.GetValue(writable),
                Passthrough = p.GetValue(passthrough),
                Threads = p.GetValue(Threads),
                FsName = FsName(sources),
                Log = warn,
            });
            if (daemon)
            {
                Console.Out.WriteLine($"ready {Environment.ProcessId}");
                Console.Out.Flush();
                ServerProcess.DetachStandardStreams();
            }
            else
            {
                Console.WriteLine($"mounted at {server.MountPoint}");
                Console.Error.WriteLine($"zar: serving {fs.Description}; Ctrl-C or 'zar umount {mountPoint}' to unmount");
            }
            server.ServeUntilUnmounted(warn);
            if (Environment.GetEnvironmentVariable("ZAR_FUSE_STATS") == "1")
            {
                var st = server.Statistics;
                warn($"statistics: {st.Requests} requests, {st.Errors} errors, {st.Nodes} nodes, {st.Threads} threads, {st.AllocatedBytes} bytes allocated: " +
                     string.Join(", ", st.ByOpcode.Select(kv => $"{kv.Key} {kv.Value}")));
            }
            return 0;
        }));
        return cmd;
    }

    static Command Umount()
    {
        var mountPoint = new Argument<string>("MOUNTPOINT");
        var cmd = new Command("umount", "unmount a zar mount (also one whose server was killed); a busy mount is detached") { mountPoint };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var mp = p.GetValue(mountPoint)!;
            var m = MountTable.At(mp) ?? throw new ZarException($"{mp}: not mounted");
            if (m.FsType != KernelMounts.FuseType && !(m.FsType == "overlay" && m.Source == "zar-overlay"))
                throw new ZarException($"{mp}: not a zar mount ({m.FsType} {m.Source}); use umount");
            if (KernelMounts.Unmount(mp) == UnmountResult.Detached)
                Console.Error.WriteLine($"zar: {mp} is busy: detached; it goes away when its last user does");
            return 0;
        }));
        return cmd;
    }

    /// <summary>One source as it is, several as an overlay stack (bottom first) that owns them.</summary>
    internal static IReadOnlyFileSystem OpenStack(ParseResult p, IReadOnlyList<string> sources)
    {
        if (sources.Count == 1) return ImageOptions.Open(p, sources[0]);
        var layers = new List<IReadOnlyFileSystem>();
        try
        {
            foreach (var s in sources) layers.Add(ImageOptions.Open(p, s));
            return new OverlayFileSystem(layers, $"stack of {string.Join(", ", sources)}", ownsLayers: true);
        }
        catch
        {
            foreach (var l in layers) l.Dispose();
            throw;
        }
    }

    internal static bool ParseMountOptions(string[]? options)
    {
        bool allowOther = false;
        foreach (var o in (options ?? []).SelectMany(x => x.Split(',', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (o is "allow_other") allowOther = true;
            else if (o is "ro" or "default_permissions") { }
            else throw new ZarException($"-o {o}: unknown mount option (known: allow_other)");
        }
        return allowOther;
    }

    static string FsName(string[] sources)
    {
        var name = "zar:" + string.Join(":", sources.Select(s => Path.GetFileName(s.TrimEnd('/')) is { Length: > 0 } f ? f : s));
        return name.Length > 200 ? name[..200] : name;
    }

    static readonly object LogLock = new();

    static void Warn(string? logFile, string message)
    {
        if (logFile == null)
        {
            Console.Error.WriteLine($"zar: warning: {message}");
            return;
        }
        lock (LogLock)
        {
            try { File.AppendAllText(logFile, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {message}\n"); }
            catch (IOException) { }
        }
    }

    /// <summary>
    /// --background: runs this same command again as a server in its own session, waits until it has
    /// mounted (or failed), prints one line and returns. .NET cannot fork, so the server is a new process.
    /// </summary>
    static int Detach(string mountPoint)
    {
        var psi = Daemon.SelfStartInfo();
        psi.Environment[DaemonVariable] = "1";
        // A server runs for long: its code precompiled (ReadyToRun) or compiled once fully optimized, rather than
        // re-compiled in the background while the first requests are served (measured: a third of the CPU of a
        // cold read of the Debian image went to tier-up compiles). The user's own setting wins.
        if (Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") == null) psi.Environment["DOTNET_TieredCompilation"] = "0";
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var child = Process.Start(psi) ?? throw new ZarException("cannot start the mount server");
        var errors = child.StandardError.ReadToEndAsync();
        var line = child.StandardOutput.ReadLine();
        if (line != null && line.StartsWith("ready ", StringComparison.Ordinal))
        {
            Console.WriteLine($"mounted at {Path.GetFullPath(mountPoint)} (server pid {child.Id})");
            return 0;
        }
        child.WaitForExit();
        var text = errors.Result.TrimEnd();
        Console.Error.WriteLine(text.Length > 0 ? text : $"zar: the mount server exited with code {child.ExitCode}");
        return child.ExitCode == 0 ? 3 : child.ExitCode;
    }
}

/// <summary>Process plumbing for a detached server.</summary>
static class Daemon
{
    /// <summary>This program with this invocation's arguments (through the dotnet host when run as a dll).</summary>
    public static ProcessStartInfo SelfStartInfo()
    {
        var exe = Environment.ProcessPath ?? throw new ZarException("cannot find this program's path");
        var args = Environment.GetCommandLineArgs();
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        bool viaHost = Path.GetFileNameWithoutExtension(exe) == "dotnet";
        if (viaHost) psi.ArgumentList.Add(args[0]);
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        return psi;
    }
}
