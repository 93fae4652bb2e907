using System.Text.Json;

namespace Zar.Fuse.Containers;

/// <summary>What a container runs: the process and how it is isolated, before it is written as an OCI runtime config.</summary>
public sealed record ContainerProcess
{
    public required IReadOnlyList<string> Args { get; init; }
    public required IReadOnlyList<string> Env { get; init; }
    public string Cwd { get; init; } = "/";
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public IReadOnlyList<uint> AdditionalGids { get; init; } = [];
    public bool Terminal { get; init; }
    public string Hostname { get; init; } = "zar";
    /// <summary>false: the host's network; true: a network namespace of its own with only loopback (--network none).</summary>
    public bool IsolateNetwork { get; init; } = true;
}

/// <summary>
/// The OCI runtime config (config.json of a bundle, runtime-spec 1.0) zar run hands to crun: a read-only
/// root, a tmpfs /tmp, Docker's default capabilities, masked and read-only /proc and /sys paths, and no
/// resource limits (raising rlimits needs CAP_SYS_RESOURCE, and cgroups are left alone).
/// </summary>
public static class RuntimeSpec
{
    /// <summary>Docker's default capability set.</summary>
    static readonly string[] Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    static readonly (string Destination, string Type, string Source, string[] Options)[] Mounts =
    [
        ("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        ("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        ("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        ("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        ("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        ("/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "mode=1777"]),
    ];

    /// <summary>Where the runtime mounts file systems; each must be a directory in the root.</summary>
    public static IEnumerable<string> MountPoints => Mounts.Select(m => m.Destination);

    /// <summary>The config.json bytes for a bundle whose root filesystem is <paramref name="rootPath"/>.</summary>
    public static byte[] Build(ContainerProcess process, string rootPath)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", "1.0.2");
            w.WriteStartObject("process");
            w.WriteBoolean("terminal", process.Terminal);
            w.WriteStartObject("user");
            w.WriteNumber("uid", process.Uid);
            w.WriteNumber("gid", process.Gid);
            if (process.AdditionalGids.Count > 0) Array(w, "additionalGids", process.AdditionalGids.Select(g => (object)g));
            w.WriteEndObject();
            Array(w, "args", process.Args);
            Array(w, "env", process.Env);
            w.WriteString("cwd", process.Cwd);
            w.WriteStartObject("capabilities");
            foreach (var set in new[] { "bounding", "effective", "permitted" }) Array(w, set, Capabilities);
            w.WriteEndObject();
            w.WriteBoolean("noNewPrivileges", false);
            w.WriteEndObject();
            w.WriteStartObject("root");
            w.WriteString("path", rootPath);
            w.WriteBoolean("readonly", true);
            w.WriteEndObject();
            w.WriteString("hostname", process.Hostname);
            w.WriteStartArray("mounts");
            foreach (var (destination, type, source, options) in Mounts)
            {
                w.WriteStartObject();
                w.WriteString("destination", destination);
                w.WriteString("type", type);
                w.WriteString("source", source);
                Array(w, "options", options);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("linux");
            w.WriteStartArray("namespaces");
            foreach (var ns in new[] { "pid", "ipc", "uts", "mount" }.Concat(process.IsolateNetwork ? ["network"] : []))
            {
                w.WriteStartObject();
                w.WriteString("type", ns);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Array(w, "maskedPaths", MaskedPaths);
            Array(w, "readonlyPaths", ReadonlyPaths);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    static void Array(Utf8JsonWriter w, string name, IEnumerable<object> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            if (v is uint u) w.WriteNumberValue(u);
            else w.WriteStringValue((string)v);
        }
        w.WriteEndArray();
    }

    static void Array(Utf8JsonWriter w, string name, IEnumerable<string> values) => Array(w, name, values.Cast<object>());
}
