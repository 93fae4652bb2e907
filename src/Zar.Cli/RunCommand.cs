using System.CommandLine;
using Zar.Formats.Erofs;
using Zar.Fuse;
using Zar.Fuse.Containers;
using Zar.Model;
using Zar.Sources.Images;

namespace Zar.Cli;

/// <summary>zar run SOURCE [--] CMD...: a container booted from the image served through FUSE.</summary>
static class RunCommand
{
    public static Command Build()
    {
        var source = new Argument<string>("SOURCE") { Description = "image to boot: zar, EROFS, image reference (oci:, docker-archive:, docker://)" };
        var command = new Argument<string[]>("CMD") { Description = "command and arguments (default: the image's Entrypoint and Cmd); put -- before it when it has options", Arity = ArgumentArity.ZeroOrMore };
        var network = new Option<string>("--network") { Description = "none (loopback only, default) or host", DefaultValueFactory = _ => "none" };
        var env = new Option<string[]>("--env", "-e") { Description = "KEY=VALUE to set in the container (repeatable)", AllowMultipleArgumentsPerToken = false };
        var user = new Option<string>("--user", "-u") { Description = "user[:group] or uid[:gid] (default: the image's User)" };
        var workdir = new Option<string>("--workdir", "-w") { Description = "working directory (default: the image's WorkingDir)" };
        var tty = new Option<bool>("--tty", "-t") { Description = "give the command a terminal" };
        var fuse = new Option<bool>("--fuse") { Description = "serve an EROFS image through FUSE too (by default the kernel mounts it: faster)" };
        var cmd = new Command("run", "run a command in a container (crun) whose read-only root is the image, served through FUSE; /tmp is a tmpfs")
            { source, command, network, env, user, workdir, tty, fuse, MountCommands.Threads };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var spec = p.GetValue(source)!;
            using var fs = ImageOptions.Open(p, spec);
            var config = fs switch { MergedImage merged => merged.Config, Sources.Lazy.LazyImage lazy => lazy.Config, _ => null };
            bool kernelErofs = !p.GetValue(fuse) && File.Exists(spec) && fs is ErofsImage { Superblock.ExtraDevices: 0 };
            return ContainerRun.Run(fs, config, new ContainerRunOptions
            {
                Command = p.GetValue(command) ?? [],
                Env = p.GetValue(env) ?? [],
                User = p.GetValue(user),
                WorkingDir = p.GetValue(workdir),
                Network = p.GetValue(network)!,
                Terminal = p.GetValue(tty),
                KernelErofsImage = kernelErofs ? Path.GetFullPath(spec) : null,
                Mount = new FuseServerOptions
                {
                    Threads = p.GetValue(MountCommands.Threads),
                    Log = message => Console.Error.WriteLine($"zar: warning: {message}"),
                },
            });
        }));
        return cmd;
    }
}
