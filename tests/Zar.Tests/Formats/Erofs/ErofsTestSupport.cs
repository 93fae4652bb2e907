using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>A kernel mount (loop, read-only) removed on dispose.</summary>
public sealed class Mount : IDisposable
{
    public string Path { get; }

    Mount(string path) => Path = path;

    /// <param name="devices">Extra devices (block devices, e.g. <see cref="LoopDevice"/>s), passed as <c>-o device=</c> in table order.</param>
    public static Mount Erofs(string image, string mountPoint, IEnumerable<string>? devices = null)
    {
        Directory.CreateDirectory(mountPoint);
        var options = "loop,ro" + string.Concat((devices ?? []).Select(d => ",device=" + d));
        var r = Tools.Run("mount", ["-t", "erofs", "-o", options, image, mountPoint], timeoutMs: 60_000);
        if (r.Code != 0) Assert.Fail($"mount -t erofs {image} failed: {r.Err.Trim()} (dmesg: {Dmesg()})");
        return new Mount(mountPoint);
    }

    public static Mount Overlay(IEnumerable<string> lowerTopFirst, string mountPoint)
    {
        Directory.CreateDirectory(mountPoint);
        var r = Tools.Run("mount", ["-t", "overlay", "overlay", "-o", "ro,lowerdir=" + string.Join(':', lowerTopFirst), mountPoint], timeoutMs: 60_000);
        if (r.Code != 0) Assert.Fail($"mount -t overlay failed: {r.Err.Trim()} (dmesg: {Dmesg()})");
        return new Mount(mountPoint);
    }

    static string Dmesg()
    {
        try { return string.Join(" | ", Tools.Run("dmesg", []).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(3)); }
        catch { return "?"; }
    }

    public void Dispose()
    {
        for (int i = 0; i < 10; i++)
        {
            if (Tools.Run("umount", [Path], timeoutMs: 60_000).Code == 0) return;
            Thread.Sleep(200);
        }
        Tools.Run("umount", ["-l", Path], timeoutMs: 60_000);
    }
}

/// <summary>A read-only loop device over a file (what <c>mount -o device=</c> needs for an extra device), detached on dispose.</summary>
public sealed class LoopDevice : IDisposable
{
    public string Path { get; }

    LoopDevice(string path) => Path = path;

    public static LoopDevice Attach(string file)
    {
        var r = Tools.Run("losetup", ["--find", "--show", "--read-only", file], timeoutMs: 60_000);
        if (r.Code != 0) Assert.Fail($"losetup {file} failed: {r.Err.Trim()}");
        return new LoopDevice(r.Out.Trim());
    }

    public void Dispose() => Tools.Run("losetup", ["--detach", Path], timeoutMs: 60_000);
}

/// <summary>
/// erofs-utils 1.7 or newer (fsck/dump of 512..2048-byte blocks, extra devices): a bin directory named by
/// ZAR_EROFS_UTILS, scripts/peers.sh's build ($ZAR_PEERS/bin), a <c>peers-bin/erofs-utils-*/bin</c> build
/// above the checkout (what <c>../shared/peers/build-erofs-utils.sh</c> makes), or the PATH. Debian 12's
/// 1.5 refuses small blocks.
/// </summary>
public static class ErofsUtils
{
    public static string Require(string tool)
    {
        foreach (var dir in Candidates())
        {
            var path = System.IO.Path.Combine(dir, tool);
            if (File.Exists(path) && IsRecent(path)) return path;
        }
        var msg = $"{tool} from erofs-utils 1.7+ is not available: run `bash ../shared/peers/build-erofs-utils.sh DIR` and set ZAR_EROFS_UTILS=DIR/erofs-utils-1.9.3/bin";
        if (Tools.InCI) Assert.Fail(msg);
        Assert.Skip(msg);
        return null!;
    }

    static IEnumerable<string> Candidates()
    {
        if (Environment.GetEnvironmentVariable("ZAR_EROFS_UTILS") is { Length: > 0 } env) yield return env;
        // scripts/peers.sh builds into $ZAR_PEERS (and puts it on the PATH for scripts/test.sh).
        yield return System.IO.Path.Combine(Environment.GetEnvironmentVariable("ZAR_PEERS") is { Length: > 0 } peersDir ? peersDir : "/var/tmp/zar-peers", "bin");
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var peers = System.IO.Path.Combine(dir.FullName, "peers-bin");
            if (!Directory.Exists(peers)) continue;
            foreach (var build in Directory.GetDirectories(peers, "erofs-utils-*").Order().Reverse())
                yield return System.IO.Path.Combine(build, "bin");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')) yield return dir;
    }

    /// <summary>"fsck.erofs (erofs-utils) 1.9.3": 1.5 knows no -V at all.</summary>
    static bool IsRecent(string path)
    {
        var r = Tools.Run(path, ["-V"], timeoutMs: 30_000);
        var m = System.Text.RegularExpressions.Regex.Match(r.Out + r.Err, @"erofs-utils\)?\s+(\d+)\.(\d+)");
        return r.Code == 0 && m.Success && (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value)).CompareTo((1, 7)) >= 0;
    }
}

public static class ErofsTrees
{
    /// <summary>
    /// Every entry type, odd names, xattrs (inline, shared, security.capability, on symlinks), owners beyond
    /// 16 bits, setuid/sticky bits, nanosecond mtimes, tails around the block size, hard links.
    /// </summary>
    public static void BuildAllTypes(string root, bool longNames = true)
    {
        Directory.CreateDirectory(root);
        Tools.Sh($$"""
            cd '{{root}}'
            mkdir -p d/sub/deep empty dir.with.dots
            printf hello > small
            for s in 0 1 100 4095 4096 4097 8191 8192 12289 70000; do head -c $s /dev/urandom > tail_$s; done
            head -c 1000000 /dev/urandom > d/big
            ln small d/hard1
            ln small d/sub/hard2
            ln tail_4097 d/hard_tail
            ln -s small link_rel
            ln -s /nonexistent/abs/target link_abs
            ln -s "$(printf 'x%.0s' {1..3000})" link_long
            ln -s "$(printf 'y%.0s' {1..4000})" link_longer
            mknod chr c 1 3
            mknod blk b 8 1
            mknod chr_big c 4095 1048575
            mknod whiteout_like c 0 0
            mkfifo fifo
            python3 -c 'import os,stat; os.mknod("sock", 0o755 | stat.S_IFSOCK)'
            touch '+plus' -- '-minus' '!bang' '..dotdot' '.hidden'
            touch $'bad\xff\xfename'
            mkdir $'dir\xc3'
            echo inside > $'dir\xc3'/$'f\x80'
            setfattr -n user.foo -v bar small
            setfattr -n user.empty small
            setfattr -n user.big -v "$(head -c 1500 /dev/zero | tr '\0' 'v')" tail_100
            for f in tail_1 tail_4095 tail_4096 d/big d/sub/deep; do setfattr -n user.shared -v same-value-for-many-files $f; setfattr -n trusted.shared2 -v also-shared $f; done
            setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= tail_8192
            setfattr -n trusted.overlay.opaque -v y d/sub
            setfattr -h -n trusted.onsymlink -v 1 link_rel
            setfattr -n trusted.shared2 -v also-shared fifo
            setfattr -n user.dirattr -v 0x00ff00 d
            chown 1000:1000 small
            chown 100000:200000 tail_1
            chown -h 7:8 link_rel
            chown 65535:65535 tail_4095
            chmod 4755 tail_4096
            chmod 2711 d/sub
            chmod 1777 empty
            chmod 000 tail_0
            find . -exec touch -h -d '2021-05-06 07:08:09' {} +
            touch -d '2001-02-03 04:05:06.123456789' tail_8191 chr
            touch -h -d '1999-12-31 23:59:59.999999999' link_abs
            touch -d '2038-01-19 03:14:08.5' tail_12289
            touch -d '1960-01-01 00:00:00.25' tail_70000
            touch -d '2021-05-06 07:08:09.000000001' d/sub/deep
            """);
        if (longNames)
            Tools.Sh($$"""
                cd '{{root}}'
                n=$(printf 'n%.0s' {1..255}); echo long > "$n"
                m=$(printf 'D%.0s' {1..255}); mkdir "d/$m"; echo x > "d/$m/$n"
                touch -h -d '2021-05-06 07:08:09' "$n" "d/$m/$n" "d/$m" d .
                """);
        Tools.Sh($"cd '{root}' && touch -d '2021-05-06 07:08:09' . d 'dir'$'\\xc3' && touch -d '2022-01-01 00:00:00.5' d/sub");
    }

    /// <summary>A directory of <paramref name="count"/> files with names of varying length (many directory blocks).</summary>
    public static void BuildLargeDirectory(string root, int count)
    {
        var dir = Path.Combine(root, "many");
        Directory.CreateDirectory(dir);
        for (int i = 0; i < count; i++)
        {
            var name = $"entry-{i:D5}-" + new string((char)('a' + i % 26), i % 40);
            File.WriteAllText(Path.Combine(dir, name), i % 7 == 0 ? new string('z', i % 5000) : "");
        }
        Tools.Sh($"cd '{root}' && find . -exec touch -h -d '2020-02-02 02:02:02' {{}} + && touch -d '2020-02-02 02:02:03.7' many/entry-00003-ddd");
    }
}
