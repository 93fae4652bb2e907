using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources.Tar;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Tar;

/// <summary>One entry as our reader produced it, with its stored bytes.</summary>
public sealed record ReadEntry(TarEntry Tar, byte[] Data)
{
    public Entry Entry => Tar.Entry;
    public long DataOffset => Tar.DataOffset;
    public IReadOnlyList<DataExtent>? Extents => Tar.Extents;
}

public enum TreeLevel { V7, Ustar, Full }

public static class TarTestSupport
{
    /// <summary>Reads every entry and its stored bytes (only for small test archives).</summary>
    public static List<ReadEntry> ReadAll(string tarPath, bool decompress = false)
    {
        using var file = File.OpenRead(tarPath);
        Stream s = decompress ? LayerStream.Open(file, out _, leaveOpen: true) : file;
        using var reader = new TarReader(s, Path.GetFileName(tarPath));
        return ReadAll(reader);
    }

    public static List<ReadEntry> ReadAll(TarReader reader)
    {
        var list = new List<ReadEntry>();
        while (reader.Next() is { } e)
        {
            var ms = new MemoryStream();
            reader.OpenData().CopyTo(ms);
            Assert.Equal(e.StoredSize, ms.Length);
            list.Add(new ReadEntry(e, ms.ToArray()));
        }
        return list;
    }

    /// <summary>The logical file content of a regular entry (holes as zeros for sparse entries).</summary>
    public static byte[] LogicalContent(ReadEntry r)
    {
        var e = r.Entry;
        if (r.Extents == null) return r.Data;
        var content = new byte[e.Size];
        long stored = 0;
        foreach (var x in r.Extents)
        {
            Array.Copy(r.Data, stored, content, x.Offset, x.Length);
            stored += x.Length;
        }
        Assert.Equal(r.Data.Length, stored);
        return content;
    }

    /// <summary>Extracts with GNU tar as the reference (root: owners, modes, devices, xattrs are restored).</summary>
    public static string ExtractWithGnuTar(string tarPath, string destination)
    {
        Directory.CreateDirectory(destination);
        var r = Tools.Run("tar", ["-xf", tarPath, "-C", destination, "--numeric-owner", "--same-owner", "-p",
            "--xattrs", "--xattrs-include=*"]);
        Assert.True(r.Code == 0, $"GNU tar failed to extract {tarPath}: {r.Err}");
        return destination;
    }

    /// <summary>
    /// Compares our reading of a tar with GNU tar's extraction of the same tar, file by file:
    /// every name, type, mode, owner, mtime, size, content, link target, device and xattr.
    /// </summary>
    /// <param name="sourceForDirectoryMtimes">When an archive revisits a directory after leaving it (bsdtar's order),
    /// GNU tar's extraction loses that directory's mtime; directory mtimes are then checked against the source tree.</param>
    public static void AssertMatchesExtraction(List<ReadEntry> entries, string extracted, bool compareMtime = true,
        bool compareXattrs = true, string? sourceForDirectoryMtimes = null)
    {
        using var hostDir = new HostDirectory(extracted);
        IReadOnlyFileSystem host = hostDir;
        // Later entries win (GNU tar overwrites), so compare the last entry of each path.
        var byPath = new Dictionary<string, ReadEntry>();
        foreach (var r in entries) byPath[r.Entry.Path] = r;

        var hostPaths = host.Walk().Select(e => e.Path).ToHashSet();
        foreach (var p in byPath.Keys) Assert.True(hostPaths.Contains(p), $"we read '{ZarPath.Display(p)}' but GNU tar did not extract it");
        foreach (var p in hostPaths)
            Assert.True(byPath.ContainsKey(p) || p.Length == 0 || ImpliedDirectory(p, byPath.Keys),
                $"GNU tar extracted '{ZarPath.Display(p)}' but we did not read it");

        foreach (var (path, r) in byPath)
        {
            var ours = r.Entry;
            var theirs = host.Lookup(path)!;
            string what = $"{ZarPath.Display(path)} ({r.Tar.RawName})";
            if (ours.Type == EntryType.Hardlink)
            {
                var target = host.Lookup(ours.LinkTarget!);
                Assert.True(target != null, $"{what}: hardlink target {ours.LinkTarget} missing");
                Assert.Equal(target!.Inode, theirs.Inode);
                continue;
            }
            Assert.True(ours.Type == theirs.Type, $"{what}: type {ours.Type} vs {theirs.Type}");
            if (path.Length != 0)
            {
                Assert.True(ours.Mode == theirs.Mode, $"{what}: mode {Convert.ToString(ours.Mode, 8)} vs {Convert.ToString(theirs.Mode, 8)}");
                Assert.True(ours.Uid == theirs.Uid && ours.Gid == theirs.Gid, $"{what}: owner {ours.Uid}:{ours.Gid} vs {theirs.Uid}:{theirs.Gid}");
            }
            if (sourceForDirectoryMtimes != null && ours.Type == EntryType.Directory)
            {
                using var src = new HostDirectory(sourceForDirectoryMtimes);
                var s = src.Lookup(path)!;
                Assert.True(ours.MtimeSeconds == s.MtimeSeconds && (ours.MtimeNanoseconds == 0 || ours.MtimeNanoseconds == s.MtimeNanoseconds),
                    $"{what}: directory mtime {ours.MtimeSeconds}.{ours.MtimeNanoseconds:D9} vs source {s.MtimeSeconds}.{s.MtimeNanoseconds:D9}");
            }
            else if (compareMtime && ours.Type != EntryType.Symlink && path.Length != 0)
                Assert.True(ours.MtimeSeconds == theirs.MtimeSeconds && ours.MtimeNanoseconds == theirs.MtimeNanoseconds,
                    $"{what}: mtime {ours.MtimeSeconds}.{ours.MtimeNanoseconds:D9} vs {theirs.MtimeSeconds}.{theirs.MtimeNanoseconds:D9}");
            switch (ours.Type)
            {
                case EntryType.Regular:
                    Assert.True(ours.Size == theirs.Size, $"{what}: size {ours.Size} vs {theirs.Size}");
                    var expected = host.ReadAllBytes(theirs);
                    var actual = LogicalContent(r);
                    Assert.True(expected.AsSpan().SequenceEqual(actual), $"{what}: content differs");
                    break;
                case EntryType.Symlink:
                    Assert.Equal(theirs.LinkTarget, ours.LinkTarget);
                    break;
                case EntryType.CharDevice or EntryType.BlockDevice:
                    Assert.True(ours.DevMajor == theirs.DevMajor && ours.DevMinor == theirs.DevMinor,
                        $"{what}: device {ours.DevMajor}:{ours.DevMinor} vs {theirs.DevMajor}:{theirs.DevMinor}");
                    break;
            }
            if (compareXattrs)
                Assert.Equal(string.Join(",", theirs.Xattrs), string.Join(",", ours.Xattrs));
        }
    }

    static bool ImpliedDirectory(string p, IEnumerable<string> paths) => paths.Any(x => x.StartsWith(p + "/", StringComparison.Ordinal));

    /// <summary>The stored bytes read straight from the raw tar at DataOffset equal what OpenData returned.</summary>
    public static void AssertDataOffsets(string tarPath, List<ReadEntry> entries)
    {
        using var raw = File.OpenRead(tarPath);
        foreach (var r in entries)
        {
            if (r.Data.Length == 0) continue;
            var buf = new byte[r.Data.Length];
            raw.Position = r.DataOffset;
            raw.ReadExactly(buf);
            Assert.True(buf.AsSpan().SequenceEqual(r.Data), $"{r.Entry.Path}: bytes at DataOffset {r.DataOffset} differ");
            Assert.True(r.Tar.HeaderOffset % 512 == 0 && r.Tar.HeaderOffset < r.DataOffset, $"{r.Entry.Path}: header offset {r.Tar.HeaderOffset}");
        }
    }

    /// <summary>
    /// A tree with every kind of entry the formats under test can carry. Full adds what plain ustar cannot store
    /// (long names, big ids, negative times, xattrs, non-UTF-8 names); V7 also drops devices, fifos and 100+ byte paths.
    /// </summary>
    public static void MakeTree(string root, TreeLevel level, bool invalidUtf8Names = true)
    {
        bool full = level == TreeLevel.Full, devices = level != TreeLevel.V7;
        Directory.CreateDirectory(root);
        var script = """
            set -e
            cd "$ROOT"
            : > empty
            head -c 1 /dev/urandom > s1
            head -c 511 /dev/urandom > s511
            head -c 512 /dev/urandom > s512
            head -c 513 /dev/urandom > s513
            head -c 4096 /dev/urandom > s4096
            head -c 3000001 /dev/urandom > large
            printf 'unicode' > 'ünïcødé-文件.txt'
            mkdir -p dir/sub sticky
            chmod 1777 sticky
            printf 'x' > dir/sub/setuid && chmod 4755 dir/sub/setuid
            printf 'y' > dir/readonly && chmod 0400 dir/readonly
            ln -s s1 link
            ln -s ../dir/sub up-link
            ln -s sub dir/down-link
            ln s4096 hard
            if [ "$LEVEL" != V7 ]; then
            mkdir -p 'ustar-prefix-123456789-123456789-123456789-123456789-123456789/and-more-123456789-123456789-123456789-123456789-123456789'
            printf 'p' > 'ustar-prefix-123456789-123456789-123456789-123456789-123456789/and-more-123456789-123456789-123456789-123456789-123456789/file-name-part'
            mkfifo fifo
            fi
            touch -h -d '2021-05-06 07:08:09.123456789' s1 dir/readonly
            chown 1000:1001 s511
            """;
        if (devices)
            script += """

                mknod chardev c 1 7
                mknod blockdev b 7 200
                """;
        if (full)
            script += """

                N255=$(printf 'n%.0s' $(seq 1 255))
                printf 'long' > "$N255"
                D=$(printf 'd%.0s' $(seq 1 60))
                mkdir -p "deep/$D/$D/$D/$D/$D"
                printf 'deep' > "deep/$D/$D/$D/$D/$D/$N255"
                ln -s "deep/$D/$D/$D/$D/$D/$N255" longlink
                ln "deep/$D/$D/$D/$D/$D/$N255" hard-to-long
                if [ "$BAD" = 1 ]; then printf 'bin' > "$(printf 'bad-\xff\xfe-utf8')"; fi
                printf 'ids' > bigid && chown 2147483647:2147483646 bigid
                printf 'ids' > midid && chown 3000000:3000001 midid
                printf 'old' > old && touch -d '1960-01-01 00:00:00.5' old
                printf 'x' > xattrs
                setfattr -n user.bin -v 0x00ff0a3d3d0a00 xattrs
                setfattr -n user.empty xattrs
                setfattr -n user.text -v 'hello world' xattrs
                setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 xattrs
                setfattr -n user.dir dir
                """;
        var r = Tools.Run("/bin/bash", ["-c", $"ROOT='{root}'\nLEVEL={level}\nBAD={(invalidUtf8Names ? 1 : 0)}\n" + script]);
        Assert.True(r.Code == 0, r.Err);
    }

    /// <summary>Sparse files: a hole-only file, data at the end, one extent and many extents (beyond the 4 header slots and a 21-slot extension block).</summary>
    public static void MakeSparseTree(string root)
    {
        Directory.CreateDirectory(root);
        var r = Tools.Run("/bin/bash", ["-c", $$"""
            set -e
            cd '{{root}}'
            truncate -s 5M holes-only
            truncate -s 10M one && printf 'hello sparse' | dd of=one bs=1 seek=1048576 conv=notrunc status=none
            truncate -s 3M tail && head -c 5000 /dev/urandom | dd of=tail bs=1 seek=$((3*1024*1024-5000)) conv=notrunc status=none
            truncate -s 64M many
            for i in $(seq 0 59); do head -c 777 /dev/urandom | dd of=many bs=1 seek=$((i*1048576 + i*13)) conv=notrunc status=none; done
            head -c 70000 /dev/urandom > dense
            """]);
        Assert.True(r.Code == 0, r.Err);
    }
}
