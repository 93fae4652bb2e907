using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using System.Text;
using Zar.Formats.Zar;
using Zar.Fuse;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Fuse;

/// <summary>A zar image of a tree with many files of many sizes, and the tree itself as the source of truth.</summary>
public sealed class ManyFilesImage : IDisposable
{
    public readonly TempDir Dir = new();
    public string Source => Dir["src"];
    public string Image => Dir["tree.zar"];
    /// <summary>Relative path and content of every regular file.</summary>
    public readonly List<(string Path, byte[] Data)> Files = new();

    public ManyFilesImage()
    {
        TreeFixture.CreateEverything(Source);
        var rng = new Random(7);
        for (int d = 0; d < 8; d++)
        {
            Directory.CreateDirectory(Path.Combine(Source, "many", $"d{d}"));
            for (int f = 0; f < 40; f++)
            {
                int size = (f % 5) switch { 0 => rng.Next(0, 100), 1 => rng.Next(4000, 5000), 2 => rng.Next(60_000, 140_000), 3 => rng.Next(1 << 20, 3 << 20), _ => rng.Next(0, 20_000) };
                var bytes = new byte[size];
                rng.NextBytes(bytes);
                File.WriteAllBytes(Path.Combine(Source, "many", $"d{d}", $"f{f}"), bytes);
            }
        }
        ErofsTrees.BuildLargeDirectory(Path.Combine(Source, "large"), 3000);
        using var host = new HostDirectory(Source);
        ZarBuilder.Create(host, Image);
        // .NET's file APIs cannot name a file whose name is not UTF-8: those are checked by the tree comparisons.
        foreach (var e in host.Walk())
            if (e.IsRegular && e.Size < 64 << 20 && !e.Path.Any(char.IsSurrogate)) Files.Add((e.Path, host.ReadAllBytes(e)));
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>The server under load and under stress: parallel and mapped reads, walks, unmounts, kills, writes, broken readers.</summary>
public sealed class FuseServerTests(ManyFilesImage image) : IClassFixture<ManyFilesImage>
{
    [Fact]
    public void SixteenThreadsReadRandomRangesAndMapsExactlyWhileFindAndDuWalk()
    {
        using var zar = ZarImage.Open(image.Image);
        using var mount = new FuseMount(zar);
        var failures = new List<string>();
        using var stopWalking = new CancellationTokenSource();
        var walkers = new[] { "find . -exec stat --format=%i {} + > /dev/null", "du -s . > /dev/null", "ls -laR > /dev/null" }
            .Select(cmd => Task.Run(() =>
            {
                int runs = 0;
                while (!stopWalking.IsCancellationRequested || runs == 0)
                {
                    var r = Tools.Run("/bin/bash", ["-c", cmd], mount.Path);
                    if (r.Code != 0) lock (failures) failures.Add($"{cmd}: {r.Err}");
                    runs++;
                }
                return runs;
            })).ToArray();
        long bytes = 0;
        var readers = Enumerable.Range(0, 16).Select(t => new Thread(() =>
        {
            var rng = new Random(100 + t);
            var buf = new byte[300_000];
            for (int i = 0; i < 400; i++)
            {
                var (path, data) = image.Files[rng.Next(image.Files.Count)];
                long offset = data.Length == 0 ? 0 : rng.NextInt64(data.Length + 1);
                int length = rng.Next(1, buf.Length);
                int expected = (int)Math.Min(length, data.Length - offset);
                try
                {
                    using var h = File.OpenHandle(mount[path]);
                    int n = 0;
                    while (n < expected)
                    {
                        int r = RandomAccess.Read(h, buf.AsSpan(n, expected - n), offset + n);
                        if (r == 0) break;
                        n += r;
                    }
                    if (n != expected) throw new Exception($"read {n} of {expected} bytes");
                    if (!buf.AsSpan(0, expected).SequenceEqual(data.AsSpan((int)offset, expected)))
                        throw new Exception("bytes differ");
                    Interlocked.Add(ref bytes, expected);
                }
                catch (Exception e)
                {
                    lock (failures) failures.Add($"{ZarPath.Display(path)} @{offset}+{length}: {e.Message}");
                }
            }
        })).ToList();
        // Mapped reads come from other processes: a page fault on a FUSE page in this process's managed code
        // cannot reach a GC safe point, so a collection would wait for it while it waits for the (in-process,
        // suspended) server: a deadlock of the test's own making that a real client never meets.
        var mappers = Enumerable.Range(0, 2).Select(m => Task.Run(() =>
        {
            var rng = new Random(900 + m);
            var ranges = new List<(string Path, long Offset, int Length)>();
            while (ranges.Count < 100)
            {
                var (path, data) = image.Files[rng.Next(image.Files.Count)];
                if (data.Length == 0) continue;
                long offset = rng.NextInt64(data.Length);
                ranges.Add((path, offset, (int)Math.Min(rng.Next(1, 300_000), data.Length - offset)));
            }
            var script = "import mmap,sys,hashlib\nfor line in sys.stdin:\n p,o,n=line.rstrip('\\n').split('\\t')\n o=int(o);n=int(n)\n with open(p,'rb') as f:\n  m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n  print(hashlib.sha256(m[o:o+n]).hexdigest())\n  m.close()\n";
            var input = string.Concat(ranges.Select(r => $"{mount[r.Path]}\t{r.Offset}\t{r.Length}\n"));
            var result = Tools.Run("python3", ["-c", script], stdin: input);
            if (result.Code != 0) { lock (failures) failures.Add("mmap reader: " + result.Err); return; }
            var hashes = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < ranges.Count; i++)
            {
                var (path, offset, length) = ranges[i];
                var data = image.Files.First(f => f.Path == path).Data;
                var want = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data.AsSpan((int)offset, length)));
                if (i >= hashes.Length || hashes[i] != want) lock (failures) failures.Add($"mmap {path} @{offset}+{length}: bytes differ");
            }
        })).ToArray();
        foreach (var r in readers) r.Start();
        foreach (var r in readers) r.Join();
        Task.WaitAll(mappers);
        stopWalking.Cancel();
        Task.WaitAll(walkers);
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
        Assert.True(bytes > 10 << 20);
        Assert.Empty(mount.Log);
    }

    [Fact]
    public void UnmountWhileReadersAreActiveLeavesNoStuckMount()
    {
        using var zar = ZarImage.Open(image.Image);
        using var mount = new FuseMount(zar);
        var stop = false;
        long reads = 0, errors = 0;
        var readers = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            var buf = new byte[1 << 20];
            while (!Volatile.Read(ref stop))
            {
                var (path, _) = image.Files[rng.Next(image.Files.Count)];
                try
                {
                    using var f = File.OpenRead(mount[path]);
                    while (f.Read(buf) > 0) { }
                    Interlocked.Increment(ref reads);
                }
                catch (Exception) { Interlocked.Increment(ref errors); }
            }
        })).ToList();
        foreach (var r in readers) r.Start();
        try
        {
            Thread.Sleep(500);
            var u = ZarCli.Run("umount", mount.Path);
            Assert.True(u.Code == 0, u.Err);
            MountAssert.NotMounted(mount.Path);
            Assert.True(mount.Server.Completion.Wait(TimeSpan.FromSeconds(20)), "the server did not stop after the unmount");
        }
        finally
        {
            Volatile.Write(ref stop, true);
            foreach (var r in readers) r.Join();
        }
        Assert.True(reads > 0);
    }

    [Fact]
    public void KillNineThenZarUmountRecoversTheMountPoint()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var mnt = t["mnt"];
        Directory.CreateDirectory(mnt);
        try
        {
            var r = ZarCli.Run("mount", "--background", image.Image, mnt);
            Assert.True(r.Code == 0, r.Err);
            var pid = int.Parse(System.Text.RegularExpressions.Regex.Match(r.Out, @"server pid (\d+)").Groups[1].Value);
            var one = image.Files.First(f => f.Path == TreeFixture.File4097);
            Assert.Equal(one.Data, File.ReadAllBytes(Path.Combine(mnt, one.Path)));
            using (var server = Process.GetProcessById(pid))
            {
                server.Kill();
                Assert.True(server.WaitForExit(10_000));
            }
            // The server is gone: the mount is still there, and every access fails.
            var ls = Tools.Run("ls", [mnt]);
            Assert.NotEqual(0, ls.Code);
            Assert.Contains("Transport endpoint is not connected", ls.Err);
            var again = ZarCli.Run("mount", "--background", image.Image, mnt);
            Assert.Equal(2, again.Code);
            Assert.Contains("whose server is gone is in the way: zar umount", again.Err);
            var u = ZarCli.Run("umount", mnt);
            Assert.True(u.Code == 0, u.Err);
            MountAssert.NotMounted(mnt);
            // The mount point is reusable.
            r = ZarCli.Run("mount", "--background", image.Image, mnt);
            Assert.True(r.Code == 0, r.Err);
            var (path, data) = image.Files.First(f => f.Data.Length > 1000);
            Assert.Equal(data, File.ReadAllBytes(Path.Combine(mnt, path)));
            Assert.Equal(0, ZarCli.Run("umount", mnt).Code);
            MountAssert.NotMounted(mnt);
        }
        finally
        {
            for (int i = 0; i < 4 && MountTable.At(mnt) != null; i++) KernelMounts.Unmount(mnt);
        }
    }

    [Fact]
    public void ForegroundServerUnmountsOnSigterm()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var mnt = t["mnt"];
        Directory.CreateDirectory(mnt);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll"), "mount", image.Image, mnt }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var errors = p.StandardError.ReadToEndAsync();
        try
        {
            Assert.Equal($"mounted at {mnt}", p.StandardOutput.ReadLine());
            Assert.True(Directory.Exists(Path.Combine(mnt, "many")));
            Assert.Equal(0, Tools.Run("kill", ["-TERM", p.Id.ToString()]).Code);
            Assert.True(p.WaitForExit(20_000), "the server did not exit on SIGTERM");
            Assert.True(p.ExitCode == 0, errors.Result);
            MountAssert.NotMounted(mnt);
        }
        finally
        {
            if (!p.HasExited) { p.Kill(); KernelMounts.Unmount(mnt); }
        }
    }

    [Fact]
    public void WritesFailWithReadOnlyFileSystem()
    {
        Tools.Require("setfattr");
        using var zar = ZarImage.Open(image.Image);
        using var mount = new FuseMount(zar);
        var file = Materialize.Q(mount[TreeFixture.OneByte]);
        foreach (var cmd in new[]
        {
            $"touch {Materialize.Q(mount["new-file"])}", $"touch {file}", $"mkdir {Materialize.Q(mount["new-dir"])}", $"rm -f {file}",
            $"setfattr -n user.x -v 1 {file}", $"echo more >> {file}", $"mv {file} {Materialize.Q(mount["moved"])}",
            $"ln {file} {Materialize.Q(mount["linked"])}", $"ln -s x {Materialize.Q(mount["symlink"])}", $"chmod 777 {file}", $"truncate -s 0 {file}",
        })
        {
            var r = Tools.Run("/bin/bash", ["-c", cmd]);
            Assert.True(r.Code != 0, $"{cmd} succeeded");
            Assert.Contains("Read-only file system", r.Err);
        }
        Assert.Equal(image.Files.First(f => f.Path == TreeFixture.OneByte).Data, File.ReadAllBytes(mount[TreeFixture.OneByte]));
    }

    [Fact]
    public void ReaderExceptionsBecomeErrnosAndTheServerGoesOn()
    {
        using var zar = ZarImage.Open(image.Image);
        using var faulty = new FaultyFileSystem(zar);
        using var mount = new FuseMount(faulty);
        var read = Assert.ThrowsAny<IOException>(() => File.ReadAllBytes(mount[TreeFixture.BigFile]));
        Assert.Contains("Input/output error", read.Message);
        var ls = Tools.Run("ls", [mount["dirs"]]);
        Assert.Contains("Input/output error", ls.Err);
        var stat = Tools.Run("stat", [mount["files/boom"]]);
        Assert.Contains("Input/output error", stat.Err);
        Assert.Contains("No such file or directory", Tools.Run("stat", [mount["files/gone"]]).Err);
        // Everything else is still served.
        var (path, data) = image.Files.First(f => f.Path.StartsWith("many/", StringComparison.Ordinal) && f.Data.Length > 100_000);
        Assert.Equal(data, File.ReadAllBytes(mount[path]));
        Assert.Contains(mount.Log, l => l.Contains("damaged on purpose"));
        Assert.Contains(mount.Log, l => l.Contains("a bug on purpose"));
    }

    [Fact]
    public void WritableOverlayKeepsChangesInTheUpperDirectory()
    {
        using var t = new TempDir();
        using var zar = ZarImage.Open(image.Image);
        using (var mount = new FuseMount(zar, new FuseServerOptions { WritableUpper = t["upper"] }))
        {
            Assert.Equal("overlay", MountTable.At(mount.Path)!.FsType);
            File.WriteAllText(mount["added"], "new file");
            File.AppendAllText(mount[TreeFixture.OneByte], "+");
            File.Delete(mount[TreeFixture.File4095]);
            Assert.Equal("new file", File.ReadAllText(mount["added"]));
            Assert.False(File.Exists(mount[TreeFixture.File4095]));
            Assert.Equal(image.Files.First(f => f.Path == TreeFixture.OneByte).Data.Length + 1, new FileInfo(mount[TreeFixture.OneByte]).Length);
            var (path, data) = image.Files.First(f => f.Data.Length > 1 << 20);
            Assert.Equal(data, File.ReadAllBytes(mount[path]));
        }
        Assert.Equal("new file", File.ReadAllText(Path.Combine(t["upper"], "upper", "added")));
        // The image is untouched.
        Assert.Equal(image.Files.First(f => f.Path == TreeFixture.OneByte).Data.Length, (int)zar.Stat(TreeFixture.OneByte).Size);
    }

    [Fact]
    public void LargeDirectoriesSparseFilesXattrsAndStatfs()
    {
        Tools.Require("getfattr");
        using var zar = ZarImage.Open(image.Image);
        using var mount = new FuseMount(zar);
        // A directory listed over many READDIRPLUS replies, every name once and in order.
        var names = new DirectoryInfo(mount["large/many"]).EnumerateFileSystemInfos().Select(i => i.Name).ToList();
        Assert.Equal(zar.List("large/many").Select(e => e.Name), names);
        Assert.Equal(new[] { ".", ".." }, Tools.Run("ls", ["-a", mount["large/many"]]).Out.Split('\n').Take(2));
        // Holes: SEEK_DATA/SEEK_HOLE find them, and du counts the stored blocks only.
        var holes = Tools.Sh($"python3 -c \"import os,sys; f=os.open(sys.argv[1], os.O_RDONLY); print(os.lseek(f, 0, os.SEEK_DATA), os.lseek(f, 0, os.SEEK_HOLE))\" {Materialize.Q(mount[TreeFixture.SmallSparse])}").Trim();
        var data = zar.GetExtents(zar.Stat(TreeFixture.SmallSparse));
        Assert.Equal($"{data[0].Offset} {(data[0].Offset == 0 ? data[0].End : 0)}", holes);
        // Xattrs: binary values and security.capability come back as stored.
        var cap = Tools.Sh($"getfattr --absolute-names -e hex -n security.capability {Materialize.Q(mount[TreeFixture.Capability])}");
        Assert.Contains("0x" + Convert.ToHexStringLower(TreeFixture.CapNetRaw()), cap);
        var bin = Tools.Sh($"getfattr --absolute-names -d -m - -e hex {Materialize.Q(mount[TreeFixture.XattrFile])}");
        Assert.Contains(Convert.ToHexStringLower(TreeFixture.BinaryXattr), bin);
        Assert.Contains("No such attribute", Tools.Run("getfattr", ["-n", "user.missing", mount[TreeFixture.XattrFile]]).Err);
        // Every entry type, devices with their numbers.
        var types = Tools.Run("stat", ["-c", "%F %t:%T", mount[TreeFixture.Socket], mount[TreeFixture.Fifo], mount[TreeFixture.CharDevice], mount[TreeFixture.BlockDevice]]).Out;
        Assert.Equal(["socket 0:0", "fifo 0:0", "character special file 1:3", "block special file 8:0"], types.TrimEnd().Split('\n'));
        // statfs: the image's entries and bytes.
        var df = Tools.Sh($"stat -f -c '%c %S %T' {Materialize.Q(mount.Path)}").Trim().Split(' ');
        Assert.Equal(zar.GetTotals().Entries.ToString(), df[0]);
        Assert.Equal("4096", df[1]);
        Assert.StartsWith("fuse", df[2]);
    }

    [Fact]
    public void OtherUsersNeedAllowOther()
    {
        Tools.Require("setpriv");
        using var zar = ZarImage.Open(image.Image);
        var (path, data) = image.Files.First(f => f.Path.StartsWith("many/", StringComparison.Ordinal) && f.Data.Length > 1000);
        string[] AsNobody(string file) => ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "md5sum", file];
        using var t = new TempDir();
        Tools.Sh($"chmod 755 {Materialize.Q(t.Path)}"); // nobody must reach the mount point
        using (var mount = new FuseMount(zar, mountPoint: t["private"]))
        {
            var denied = Tools.Run("setpriv", AsNobody(mount[path]));
            Assert.NotEqual(0, denied.Code);
            Assert.Contains("Permission denied", denied.Err);
        }
        using (var mount = new FuseMount(zar, new FuseServerOptions { AllowOther = true }, mountPoint: t["shared"]))
        {
            var allowed = Tools.Run("setpriv", AsNobody(mount[path]));
            Assert.True(allowed.Code == 0, allowed.Err);
            Assert.StartsWith(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data)), allowed.Out);
        }
    }

    [Fact]
    public void PassthroughServesWholeLocalFilesWithoutReadRequests()
    {
        using var host = new HostDirectory(image.Source);
        using var mount = new FuseMount(host, new FuseServerOptions { Passthrough = true });
        if (!mount.Server.PassthroughEnabled) Assert.Skip("this kernel does not offer FUSE_PASSTHROUGH (6.9+)");
        foreach (var (path, data) in image.Files.Where(f => f.Path.StartsWith("many/", StringComparison.Ordinal)).Take(40))
            Assert.Equal(data, File.ReadAllBytes(mount[path]));
        var big = image.Files.First(f => f.Data.Length > 1 << 20);
        using (var map = MemoryMappedFile.CreateFromFile(mount[big.Path], FileMode.Open, null, 0, MemoryMappedFileAccess.Read))
        using (var view = map.CreateViewStream(0, 0, MemoryMappedFileAccess.Read))
        {
            var copy = new byte[big.Data.Length];
            view.ReadExactly(copy);
            Assert.Equal(big.Data, copy);
        }
        var stats = mount.Server.Statistics.ByOpcode;
        Assert.True(stats.GetValueOrDefault("Open") >= 40);
        Assert.Equal(0, stats.GetValueOrDefault("Read"));
    }

    [Fact]
    public void MountAndUmountUsageErrorsAreOneLine()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        Directory.CreateDirectory(t["mnt"]);
        foreach (var (args, message) in new (string[], string)[]
        {
            (["mount", image.Image], "SOURCE... MOUNTPOINT"),
            (["mount", "-o", "bogus", image.Image, t["mnt"]], "-o bogus: unknown mount option"),
            (["mount", image.Image, t["missing"]], "no such directory"),
            (["mount", t["nothing-here.zar"], t["mnt"]], "no such file"),
            (["umount", t["mnt"]], "not mounted"),
            (["umount", "/"], "not a zar mount"),
        })
        {
            var r = ZarCli.Run(args);
            Assert.True(r.Code == 2, $"{string.Join(' ', args)}: exit {r.Code}: {r.Err}");
            Assert.Contains(message, r.Err);
            Assert.Single(r.Err.Trim().Split('\n'));
        }
        Assert.Null(MountTable.At(t["mnt"]));
    }

    [Fact]
    public unsafe void ReadRequestsDoNotAllocate()
    {
        using var zar = ZarImage.Open(image.Image);
        using var mount = new FuseMount(zar);
        var (path, data) = image.Files.First(f => f.Data.Length > 2 << 20);
        const int O_DIRECT = 0x4000, Size = 64 * 1024;
        int fd;
        fixed (byte* p = Native.Libc.Z(mount[path])) fd = Native.Libc.open(p, Native.Libc.O_RDONLY | O_DIRECT, 0);
        Assert.True(fd >= 0, Native.Libc.ErrorText(Native.Libc.Errno));
        var buf = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(Size, 4096);
        try
        {
            long blocks = data.Length / Size;
            // O_DIRECT: every pread is a READ request, nothing comes from the page cache.
            void ReadMany(int count)
            {
                for (int i = 0; i < count; i++)
                {
                    long offset = i % blocks * Size;
                    Assert.Equal(Size, (int)Native.Libc.pread(fd, buf, Size, offset));
                    if (i % 97 == 0) Assert.True(new ReadOnlySpan<byte>(buf, Size).SequenceEqual(data.AsSpan((int)offset, Size)));
                }
            }
            ReadMany(200);
            var before = mount.Server.Statistics;
            ReadMany(2000);
            var after = mount.Server.Statistics;
            Assert.True(after.ByOpcode["Read"] - before.ByOpcode["Read"] >= 2000);
            long allocated = after.AllocatedBytes - before.AllocatedBytes;
            Assert.True(allocated < 1024, $"{allocated} bytes allocated serving 2000 reads"); // measured: 0
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buf);
            Native.Libc.close(fd);
        }
    }

    [Fact]
    public void UsersWithoutRootMountThroughFusermount3()
    {
        Tools.RequireRoot();
        Tools.Require("fusermount3");
        Tools.Require("setpriv");
        // fusermount3 opens /dev/fuse as the user: Debian makes it 0666, some machines keep it root's.
        // Root opens it to others for this test only, so the test runs everywhere instead of skipping.
        var fuseMode = Tools.Sh("stat -c %a /dev/fuse").Trim();
        if (fuseMode[^1] is not ('6' or '7')) Tools.Sh("chmod 666 /dev/fuse");
        try { MountAsAnotherUser(); }
        finally { if (fuseMode[^1] is not ('6' or '7')) Tools.Sh($"chmod {fuseMode} /dev/fuse"); }
    }

    void MountAsAnotherUser()
    {
        using var t = new TempDir();
        Tools.Sh($"chmod 755 {Materialize.Q(t.Path)} && mkdir {Materialize.Q(t["mnt"])} && chown 65534:65534 {Materialize.Q(t["mnt"])} && cp {Materialize.Q(image.Image)} {Materialize.Q(t["img.zar"])} && chmod 644 {Materialize.Q(t["img.zar"])}");
        var zar = new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={t.Path}", $"DOTNET_CLI_HOME={t.Path}", "dotnet", Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll") };
        var mount = Tools.Run("setpriv", [.. zar, "mount", "--background", t["img.zar"], t["mnt"]]);
        Assert.True(mount.Code == 0, mount.Err);
        try
        {
            Assert.Equal("user_id=65534", MountTable.At(t["mnt"])!.SuperOptions.Split(',').First(o => o.StartsWith("user_id=")));
            var (path, data) = image.Files.First(f => f.Path.StartsWith("many/", StringComparison.Ordinal) && f.Data.Length > 1000);
            var md5 = Tools.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "md5sum", Path.Combine(t["mnt"], path)]);
            Assert.StartsWith(Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data)), md5.Out);
        }
        finally
        {
            var umount = Tools.Run("setpriv", [.. zar, "umount", t["mnt"]]);
            Assert.True(umount.Code == 0, umount.Err);
        }
        MountAssert.NotMounted(t["mnt"]);
    }

    /// <summary>A reader that fails on purpose: a damaged file, a directory whose listing throws, a name whose look-up does.</summary>
    sealed class FaultyFileSystem(IReadOnlyFileSystem inner) : IReadOnlyFileSystem
    {
        public string Description => "faulty " + inner.Description;
        public Entry Root => inner.Root;
        public Entry? Lookup(string path) => path == "files/boom" ? throw new ZarFormatException("files/boom: damaged on purpose") : inner.Lookup(path);
        public Entry? Lookup(Entry directory, string name) => Lookup(ZarPath.Join(directory.Path, name));
        public IEnumerable<Entry> List(Entry directory) =>
            directory.Path == "dirs" ? throw new InvalidOperationException("a bug on purpose") : inner.List(directory);
        public FileData GetData(Entry file) => inner.GetData(file);
        public int Read(Entry file, long offset, Span<byte> destination) =>
            file.Path == TreeFixture.BigFile ? throw new ZarFormatException($"{file.Path}: damaged on purpose") : inner.Read(file, offset, destination);
        public void Dispose() { }
    }
}
