using System.Runtime.InteropServices;
using Zar.Consumers;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Consumers;

/// <summary>
/// What a non-root extraction keeps and what it reports. The extraction runs on a thread whose
/// kernel credentials alone are dropped to nobody (raw setresuid affects only the calling thread,
/// unlike glibc's wrapper), so the test needs no second process.
/// </summary>
public partial class UnprivilegedExtractionTests
{
    const uint Nobody = 65534;

    [LibraryImport("libc", SetLastError = true)] private static partial long syscall(long number, long a, long b, long c);

    static (long SetGroups, long SetResGid, long SetResUid) Numbers => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => (116, 119, 117),
        Architecture.Arm64 => (159, 149, 147),
        _ => (-1, -1, -1),
    };

    static void RunAsNobody(Action action)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var n = Numbers;
                if (syscall(n.SetGroups, 0, 0, 0) != 0 || syscall(n.SetResGid, Nobody, Nobody, Nobody) != 0 ||
                    syscall(n.SetResUid, Nobody, Nobody, Nobody) != 0)
                    throw new InvalidOperationException($"dropping privileges failed: errno {Marshal.GetLastPInvokeError()}");
                action();
            }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        if (failure != null) throw new Exception("on the unprivileged thread: " + failure.Message, failure);
    }

    [Fact]
    public void UnprivilegedExtractionKeepsWhatItCanAndWarnsAboutTheRest()
    {
        Tools.RequireRoot();
        if (Numbers.SetResUid < 0) Assert.Skip("raw syscall numbers known only for x64 and arm64");
        using var t = new TempDir();
        Tools.Sh($"chmod 755 '{t.Path}' && mkdir -m 777 '{t["w"]}'");
        var fs = new MemoryFileSystem()
            .Dir("ro", 0b101_101_101).File("ro/f", "in a read-only dir")
            .File("suid", "s", mode: 0b100_111_101_101)
            .Add(new Entry { Path = "cap", Type = EntryType.Regular, Mode = 0b111_101_101,
                Xattrs = new[] { new Xattr("security.capability", TreeFixture.CapNetRaw()), new Xattr("user.ok", "1"u8.ToArray()) } }, "c"u8.ToArray())
            .Add(new Entry { Path = "dev", Type = EntryType.CharDevice, Mode = 0b110_110_110, DevMajor = 1, DevMinor = 3, Inode = 9, LinkCount = 2 })
            .Add(new Entry { Path = "dev2", Type = EntryType.CharDevice, Mode = 0b110_110_110, DevMajor = 1, DevMinor = 3, Inode = 9, LinkCount = 2 })
            .Add(new Entry { Path = "fifo", Type = EntryType.Fifo, Mode = 0b110_100_000 })
            .Add(new Entry { Path = "owned", Type = EntryType.Regular, Mode = 0b110_100_100, Uid = TreeFixture.MaxId, Gid = TreeFixture.MaxId }, "o"u8.ToArray())
            .Add(new Entry { Path = "sock", Type = EntryType.Socket, Mode = 0b111_101_101 })
            .Add(new Entry { Path = "td", Type = EntryType.Directory, Mode = 0b111_101_101, Xattrs = new[] { new Xattr("trusted.x", "y"u8.ToArray()) } });

        ExtractSummary? summary = null;
        RunAsNobody(() => summary = Extractor.Extract(fs, t["w/out"]));

        Assert.Equal(new[]
        {
            "cap: xattr security.capability not set: Operation not permitted",
            "dev: device node not created (needs root)",
            "dev2: device node not created (needs root)",
            "td: xattr trusted.x not set: Operation not permitted",
        }, summary!.Warnings);
        using var host = new HostDirectory(t["w/out"]);
        Assert.Equal(0b101_101_101u, host.Lookup("ro")!.Mode);
        Assert.NotNull(host.Lookup("ro/f"));
        Assert.Equal(0b100_111_101_101u, host.Lookup("suid")!.Mode);
        Assert.Equal("1"u8.ToArray(), host.Lookup("cap")!.GetXattr("user.ok"));
        Assert.Null(host.Lookup("dev"));
        Assert.Equal(EntryType.Fifo, host.Lookup("fifo")!.Type);
        Assert.Equal(EntryType.Socket, host.Lookup("sock")!.Type);
        Assert.Equal((Nobody, Nobody), (host.Lookup("owned")!.Uid, host.Lookup("owned")!.Gid));
    }
}
