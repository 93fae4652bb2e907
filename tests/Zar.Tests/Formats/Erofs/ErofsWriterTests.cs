using Zar.Formats.Erofs;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>Images written by ErofsWriter, checked by the kernel, fsck.erofs and our reader against the source tree.</summary>
public class ErofsWriterTests
{
    /// <summary>Writes src to an image, fscks it, mounts it and compares the mount and our reader with the source.</summary>
    internal static ErofsWriteResult WriteAndVerify(TempDir tmp, string src, string name = "img.erofs", ErofsWriterOptions? options = null, bool sampleHoles = false, bool fsckExtract = true)
    {
        Tools.RequireRoot();
        Tools.Require("mkfs.erofs");
        // Debian's fsck.erofs 1.5 refuses blocks below 4096.
        var fsck = (options?.BlockSize ?? 4096) < 4096 ? ErofsUtils.Require("fsck.erofs") : Tools.Require("fsck.erofs");
        var img = tmp[name];
        ErofsWriteResult result;
        using (var source = new HostDirectory(src)) result = ErofsWriter.Write(source, img, options);
        Assert.Equal(new FileInfo(img).Length, result.ImageSize);
        Assert.Equal(0, result.ImageSize % 4096);

        var r = Tools.Run(fsck, [img]);
        Assert.True(r.Code == 0, $"fsck.erofs failed: {r.Out}{r.Err}");
        if (fsckExtract)
        {
            // --extract also reads every file's data through its block mapping.
            var extractDir = tmp[name + ".fsck"];
            r = Tools.Run(fsck, ["--extract=" + extractDir, img]);
            Assert.True(r.Code == 0, $"fsck.erofs --extract failed: {r.Out}{r.Err}");
            Tools.Run("/bin/rm", ["-rf", extractDir]);
        }

        using (var mount = Mount.Erofs(img, tmp[name + ".mnt"]))
        using (var source = new HostDirectory(src))
        using (var mounted = new HostDirectory(mount.Path))
            TreeComparer.AssertSame(source, mounted, new TreeComparer.Options { SampleHoles = sampleHoles });
        using (var source = new HostDirectory(src))
        using (var image = ErofsImage.Open(img))
            TreeComparer.AssertSame(source, image);
        return result;
    }

    [Fact]
    public void AllEntryTypesKernelMountAndReaderMatchSource()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"]);
        var result = WriteAndVerify(tmp, tmp["src"]);
        Assert.True(result.CompactInodes > 0, "most inodes share the build time and should be compact");
        Assert.True(result.ExtendedInodes > 0, "inodes with other mtimes or big ids must be extended");
    }

    [Fact]
    public void NoInlineNoSharingKernelMountMatchesSource()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"]);
        WriteAndVerify(tmp, tmp["src"], options: new ErofsWriterOptions { InlineData = false, ShareXattrs = false, BuildTime = 0 });
    }

    [Fact]
    public void LargeDirectoryKernelMountMatchesSource()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildLargeDirectory(tmp["src"], 5000);
        // fsck's extraction of 5000 files costs seconds and checks nothing the mount comparison does not.
        WriteAndVerify(tmp, tmp["src"], fsckExtract: false);
        using var image = ErofsImage.Open(tmp["img.erofs"]);
        Assert.NotNull(image.Lookup("many/entry-04999-" + new string((char)('a' + 4999 % 26), 4999 % 40)));
        Assert.Null(image.Lookup("many/entry-05000-"));
        Assert.Equal(5000, image.List(image.Lookup("many")!).Count());
        // Lookup binary-searches the blocks like the kernel: every name is found, near misses are not.
        foreach (var e in ((IReadOnlyFileSystem)image).Walk())
        {
            Assert.Equal(e.Inode, image.Lookup(e.Path)?.Inode);
            if (e.Path.Length > 0) Assert.Null(image.Lookup(e.Path + "~"));
        }
        Assert.Null(image.Lookup("many/a"));
        Assert.Null(image.Lookup("many/zzz"));
    }

    [Fact]
    public void SparseFileOver4GiBHolesNotWritten()
    {
        using var tmp = new TempDir();
        var src = tmp["src"];
        Directory.CreateDirectory(src);
        Tools.Sh($$"""
            cd '{{src}}'
            truncate -s 5G huge
            printf start | dd of=huge conv=notrunc status=none
            head -c 12288 /dev/urandom | dd of=huge bs=4096 seek=300000 conv=notrunc status=none
            head -c 5000 /dev/urandom | dd of=huge bs=1 seek=$((4*1024*1024*1024+77)) conv=notrunc status=none
            printf end | dd of=huge bs=1 seek=$((5*1024*1024*1024-3)) conv=notrunc status=none
            truncate -s 3G hole_only
            truncate -s 10000 small_hole
            printf x | dd of=small_hole bs=1 seek=9000 conv=notrunc status=none
            find . -exec touch -d '2020-01-01 00:00:00' {} +
            """);
        // The kernel pages in every zero of a hole (5 GiB take ~15 s here): the mount is checked at
        // sample points in the holes, our reader on every byte.
        var result = WriteAndVerify(tmp, src, sampleHoles: true);
        Assert.True(result.ImageSize < 16 << 20, $"image of {result.ImageSize} bytes: holes were written");
        using var image = ErofsImage.Open(tmp["img.erofs"]);
        var huge = image.Lookup("huge")!;
        Assert.Equal(5L << 30, huge.Size);
        Assert.True(huge.IsSparse);
        Assert.Contains(image.GetExtents(huge), x => x.Offset <= 300000L * 4096 && x.End >= 300003L * 4096);
    }

    /// <summary>
    /// Xattr bodies bigger than a block (records spanning blocks), 64 KiB values, a sparse file whose
    /// holes come from Entry.Extents, and an inode needing extended fields for its size alone.
    /// </summary>
    [Fact]
    public void HugeXattrsAndExtentHolesFromMemoryTreeKernelMountMatches()
    {
        Tools.RequireRoot();
        using var tmp = new TempDir();
        var big = new byte[65535];
        new Random(7).NextBytes(big);
        var data = new byte[3 << 20];
        new Random(8).NextBytes(data.AsSpan(1 << 20, 4096));
        new Random(9).NextBytes(data.AsSpan((3 << 20) - 10));
        // An in-memory tree: inputs a host filesystem cannot hold (ext4 caps a file's xattrs at one block).
        var fs = new MemoryFileSystem()
            .Add(new Entry { Path = "", Type = EntryType.Directory, Mode = 0755, MtimeSeconds = 1_600_000_000 })
            .Add(new Entry
            {
                Path = "fat", Type = EntryType.Regular, Mode = 0644, Size = 5, MtimeSeconds = 1_600_000_000,
                Xattrs = [new("trusted.big", big), new("user.a", new byte[3000]), new("user.b", Enumerable.Repeat((byte)'b', 3000).ToArray())],
            }, "hello"u8.ToArray())
            .Add(new Entry
            {
                Path = "holes", Type = EntryType.Regular, Mode = 0600, Size = data.Length, MtimeSeconds = 1_600_000_000, IsSparse = true,
            }, data, [new(1 << 20, 4096), new(data.Length - 10, 10)])
            .Add(new Entry { Path = "dir", Type = EntryType.Directory, Mode = 0700, MtimeSeconds = 1_600_000_000, Xattrs = [new("user.d", new byte[5000])] })
            .Add(new Entry { Path = "dir/link", Type = EntryType.Symlink, Mode = 0777, LinkTarget = "../fat", MtimeSeconds = 1_600_000_000, Xattrs = [new("trusted.l", new byte[4000])] });
        var img = tmp["mem.erofs"];
        var result = ErofsWriter.Write(fs, img);
        Assert.True(result.ImageSize < 1 << 20, $"{result.ImageSize} bytes: the holes were written");
        var fsck = Tools.Run(Tools.Require("fsck.erofs"), ["--extract=" + tmp["x"], img]);
        Assert.True(fsck.Code == 0, fsck.Out + fsck.Err);
        using (var mount = Mount.Erofs(img, tmp["mnt"]))
        using (var mounted = new HostDirectory(mount.Path))
            TreeComparer.AssertSame(fs, mounted);
        using (var image = ErofsImage.Open(img))
            TreeComparer.AssertSame(fs, image);
    }

    [Fact]
    public void SameTreeTwiceByteIdenticalImages()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"]);
        using (var source = new HostDirectory(tmp["src"]))
        {
            ErofsWriter.Write(source, tmp["a.erofs"]);
            ErofsWriter.Write(source, tmp["b.erofs"]);
        }
        using (var source = new HostDirectory(tmp["src"]))
        {
            var ms = new MemoryStream();
            ErofsWriter.Write(source, ms);
            Assert.Equal(File.ReadAllBytes(tmp["a.erofs"]), ms.ToArray());
        }
        Assert.Equal(File.ReadAllBytes(tmp["a.erofs"]), File.ReadAllBytes(tmp["b.erofs"]));
    }

    [Fact]
    public void ProgressReportsAllBytes()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"], longNames: false);
        var reports = new List<long>();
        var progress = new RecordingProgress<long>(reports);
        using var source = new HostDirectory(tmp["src"]);
        var result = ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions { Progress = progress });
        Assert.NotEmpty(reports);
        Assert.Equal(result.ImageSize, reports[^1]);
        Assert.Equal(reports.Order(), reports);
    }

    [Fact]
    public void SuperblockMatchesDumpErofs()
    {
        var dump = Tools.Require("dump.erofs");
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"], longNames: false);
        ErofsWriteResult result;
        using (var source = new HostDirectory(tmp["src"]))
            result = ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions { VolumeName = "zarvol" });
        var text = Tools.Run(dump, ["-s", tmp["img"]]).Out;
        // Exact labels: 1.9.3 prints "Filesystem blocksize" beside "Filesystem blocks".
        string Field(string label) => text.Split('\n').First(l => l.Split(':', 2)[0].Trim() == label).Split(':', 2)[1].Trim();
        using var image = ErofsImage.Open(tmp["img"]);
        var sb = image.Superblock;
        Assert.Equal(Field("Filesystem root nid"), sb.RootNid.ToString());
        Assert.Equal(Field("Filesystem inode count"), sb.Inodes.ToString());
        Assert.Equal(Field("Filesystem blocks"), sb.Blocks.ToString());
        Assert.Equal(Field("Filesystem UUID"), sb.UuidText);
        Assert.Equal(result.Uuid, sb.UuidText);
        Assert.Equal(result.Inodes, (long)sb.Inodes);
        Assert.Equal("zarvol", sb.VolumeNameText);
        Assert.True(sb.ChecksumValid);
        var kv = sb.Describe().ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("4096", kv["block size"]);
        Assert.Contains("sb_csum", kv["compat features"]);
        Assert.Equal("none", kv["incompat features"]);
        Assert.Equal(result.ImageSize.ToString(), image.Describe().Single(p => p.Key == "image size").Value);
    }
}
