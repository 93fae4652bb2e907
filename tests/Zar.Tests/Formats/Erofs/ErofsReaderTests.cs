using System.Diagnostics;
using Zar.Formats.Erofs;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>Our reader on images made by mkfs.erofs, compared with the kernel's view; damaged images.</summary>
public class ErofsReaderTests
{
    [Theory]
    [InlineData("")]
    [InlineData("-E noinline_data")]
    [InlineData("-E force-inode-compact --all-root")]
    [InlineData("-E force-inode-extended")]
    [InlineData("--chunksize=4096")]
    [InlineData("--chunksize=65536 -T 1234567890")]
    [InlineData("-x -1")]
    public void MkfsImageReaderMatchesKernelMount(string mkfsOptions)
    {
        Tools.RequireRoot();
        var mkfs = Tools.Require("mkfs.erofs");
        using var tmp = new TempDir();
        var src = tmp["src"];
        // mkfs.erofs 1.5 cannot store 255-byte names.
        ErofsTrees.BuildAllTypes(src, longNames: false);
        Tools.Sh($"cd '{src}' && truncate -s 300000 sparse && printf data | dd of=sparse bs=1 seek=200000 conv=notrunc status=none && touch -d '2021-05-06 07:08:09' sparse .");
        var img = tmp["mkfs.img"];
        var r = Tools.Run(mkfs, [.. mkfsOptions.Split(' ', StringSplitOptions.RemoveEmptyEntries), img, src]);
        Assert.True(r.Code == 0, $"mkfs.erofs {mkfsOptions} failed: {r.Err}");
        using var mount = Mount.Erofs(img, tmp["mnt"]);
        using var mounted = new HostDirectory(mount.Path);
        using var image = ErofsImage.Open(img);
        TreeComparer.AssertSame(mounted, image);
        // The mount itself must be faithful apart from what the options drop, or the comparison proves little.
        using var source = new HostDirectory(src);
        var diffs = TreeComparer.Diff(source, image, new TreeComparer.Options { Mtimes = false, Xattrs = !mkfsOptions.Contains("-x -1") });
        if (mkfsOptions.Contains("--all-root")) diffs.RemoveAll(d => d.Contains(": uid ") || d.Contains(": gid "));
        // mkfs.erofs ≥ 1.8 marks a directory that holds whiteouts with an empty trusted.overlay.origin
        // (lib/inode.c, so overlayfs treats the image as a data layer); that is its addition, not a loss.
        diffs.RemoveAll(d => d.EndsWith("!= trusted.overlay.origin="));
        Assert.Empty(diffs);
    }

    [Fact]
    public void CompressedImageClearNotSupportedError()
    {
        var mkfs = Tools.Require("mkfs.erofs");
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        File.WriteAllText(tmp["src/a"], new string('a', 100000));
        var r = Tools.Run(mkfs, ["-zlz4", tmp["img"], tmp["src"]]);
        Assert.Equal(0, r.Code);
        var e = Assert.Throws<ZarNotSupportedException>(() => ErofsImage.Open(tmp["img"]).Dispose());
        Assert.Contains("compressed EROFS not supported", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void NotErofsFormatError()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp["short"], new byte[100]);
        File.WriteAllBytes(tmp["zeros"], new byte[8192]);
        Assert.Contains("too short", Assert.Throws<ZarFormatException>(() => ErofsImage.Open(tmp["short"])).Message);
        Assert.Contains("bad magic", Assert.Throws<ZarFormatException>(() => ErofsImage.Open(tmp["zeros"])).Message);
        Assert.Throws<ZarNotFoundException>(() => ErofsImage.Open(tmp["missing"]));
        Assert.NotEqual(FileKind.Erofs, FileSniffer.Identify(tmp["zeros"]));
        Assert.NotEqual(FileKind.Erofs, FileSniffer.Identify(tmp["short"]));
        Assert.NotEqual(FileKind.Erofs, FileSniffer.Identify(tmp["missing"]));
        Directory.CreateDirectory(tmp["src"]);
        using (var source = new HostDirectory(tmp["src"])) ErofsWriter.Write(source, tmp["img"]);
        Assert.Equal(FileKind.Erofs, FileSniffer.Identify(tmp["img"]));
    }

    /// <summary>
    /// Random byte flips (mostly in the metadata blocks) and truncations of a valid image: reading the
    /// whole tree either works or fails with a one-line Zar format/not-supported error; never another
    /// exception, never a hang.
    /// </summary>
    [Fact]
    public void CorruptedImagesFailCleanlyOrRead()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"]);
        Tools.Sh($"cd '{tmp["src"]}' && truncate -s 40M sparse && printf x | dd of=sparse bs=4096 seek=5000 conv=notrunc status=none");
        ErofsWriteResult result;
        using (var source = new HostDirectory(tmp["src"])) result = ErofsWriter.Write(source, tmp["good"]);
        var good = File.ReadAllBytes(tmp["good"]);
        long metaBytes = result.MetadataBlocks * 4096;
        var rng = new Random(12345);
        int ok = 0, failed = 0;
        var bad = tmp["bad"];
        for (int iter = 0; iter < 400; iter++)
        {
            byte[] damaged;
            string what;
            var at = new List<int>();
            if (iter % 8 == 7)
            {
                int len = rng.Next(0, good.Length);
                damaged = good[..len];
                at.AddRange(Enumerable.Range(len, good.Length - len));
                what = $"truncated to {len}";
            }
            else
            {
                damaged = (byte[])good.Clone();
                int flips = rng.Next(1, 5);
                for (int k = 0; k < flips; k++)
                {
                    int pos = rng.Next(4) == 0 ? rng.Next(damaged.Length) : 1024 + rng.Next((int)metaBytes - 1024);
                    damaged[pos] ^= (byte)(1 << rng.Next(8));
                    at.Add(pos);
                }
                what = "flipped bits at " + string.Join(",", at);
                // Mostly keep the superblock checksum valid, or nearly every flip stops at the checksum.
                if (rng.Next(4) != 0) FixChecksum(damaged);
            }
            File.WriteAllBytes(bad, damaged);
            var task = Task.Run(() => ReadEverything(bad));
            if (!task.Wait(TimeSpan.FromSeconds(20))) Assert.Fail($"iteration {iter} ({what}): reader hung");
            var error = task.Result;
            if (error == null)
            {
                ok++;
                AssertContentDiffersOnlyWhereChanged(bad, tmp["src"], at, metaBytes, $"iteration {iter} ({what})");
                continue;
            }
            failed++;
            Assert.True(error is ZarFormatException or ZarNotSupportedException,
                $"iteration {iter} ({what}): {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
            Assert.DoesNotContain('\n', error.Message);
            Assert.Contains(bad, error.Message);
        }
        Assert.True(failed > 50, $"only {failed} of 400 damaged images were detected");
    }

    /// <summary>
    /// A damaged image that reads without error (EROFS has no data checksums) may show different bytes
    /// only in a file whose own data, or the metadata that says where it is, was changed.
    /// </summary>
    static void AssertContentDiffersOnlyWhereChanged(string image, string source, List<int> changed, long metaBytes, string what)
    {
        using var e = ErofsImage.Open(image);
        using var src = new HostDirectory(source);
        IReadOnlyFileSystem fs = e, reference = src;
        foreach (var f in fs.Walk().Where(x => x.IsRegular))
        {
            if (reference.Lookup(f.Path) is not { IsRegular: true } same || same.Size != f.Size) continue;
            if (fs.ReadAllBytes(f).AsSpan().SequenceEqual(reference.ReadAllBytes(same))) continue;
            bool explained = changed.Any(p => p < metaBytes)
                || e.GetData(f).Segments.Any(s => changed.Any(p => p >= s.BlobOffset && p < s.BlobEnd));
            Assert.True(explained, $"{what}: {ZarPath.Display(f.Path)} reads differently though neither its data nor the metadata changed");
        }
    }

    [Fact]
    public void DirectoryLoopDetectedNotHung()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src/a/b"]);
        File.WriteAllText(tmp["src/a/b/f"], "x");
        using (var source = new HostDirectory(tmp["src"])) ErofsWriter.Write(source, tmp["img"]);
        long rootNid, bNid;
        using (var image = ErofsImage.Open(tmp["img"]))
        {
            // Inode numbers are nid + 1.
            rootNid = image.Root.Inode - 1;
            bNid = image.Lookup("a/b")!.Inode - 1;
        }
        // Point a's dirent "b" (nid, nameoff, type 2 = dir) at the root: a/b/a/b/... forever. It is
        // the dirent after a's ".." (nid = root); b's own "." also carries b's nid but follows nothing.
        var bytes = File.ReadAllBytes(tmp["img"]);
        int patched = 0;
        for (int i = 12; i + 12 <= bytes.Length; i += 4)
            if (System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i)) == bNid && bytes[i + 10] == 2 && bytes[i + 11] == 0
                && System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i - 12)) == rootNid && bytes[i - 2] == 2)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i), rootNid);
                patched++;
            }
        Assert.Equal(1, patched);
        FixChecksum(bytes);
        File.WriteAllBytes(tmp["loop"], bytes);
        using IReadOnlyFileSystem fs = ErofsImage.Open(tmp["loop"]);
        var task = Task.Run(() => Assert.Throws<ZarFormatException>(() => fs.Walk().ToList()));
        Assert.True(task.Wait(TimeSpan.FromSeconds(20)), "walk hung on a directory loop");
        Assert.Contains("directory loop", task.Result.Message);
        Assert.NotNull(fs.Lookup("a/b/a/b/a/b/a"));
    }

    [Fact]
    public void BlockAddressOutOfRangeFormatError()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        File.WriteAllBytes(tmp["src/f"], new byte[3 * 4096]);
        using (var source = new HostDirectory(tmp["src"])) ErofsWriter.Write(source, tmp["img"]);
        long nid;
        using (var image = ErofsImage.Open(tmp["img"])) nid = image.Lookup("f")!.Inode - 1;
        var bytes = File.ReadAllBytes(tmp["img"]);
        // i_u (start block) sits at byte 16 of compact and extended inodes alike.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan((int)nid * 32 + 16), 0x00FFFF00);
        FixChecksum(bytes);
        File.WriteAllBytes(tmp["bad"], bytes);
        using var fs = ErofsImage.Open(tmp["bad"]);
        var f = fs.Lookup("f")!;
        var e = Assert.Throws<ZarFormatException>(() => fs.Read(f, 0, new byte[4096]));
        Assert.Contains("out of range", e.Message);
        Assert.Contains(tmp["bad"], e.Message);
    }

    [Fact]
    public void SuperblockChecksumMismatchFormatError()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        using (var source = new HostDirectory(tmp["src"])) ErofsWriter.Write(source, tmp["img"]);
        var bytes = File.ReadAllBytes(tmp["img"]);
        bytes[1024 + 16] ^= 1; // inode count
        File.WriteAllBytes(tmp["bad"], bytes);
        Assert.Contains("checksum", Assert.Throws<ZarFormatException>(() => ErofsImage.Open(tmp["bad"])).Message);
    }

    /// <summary>EROFS → EROFS through our reader gives the very same bytes as host directory → EROFS.</summary>
    [Fact]
    public void ReaderAsWriterSourceRoundTripsByteIdentical()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"]);
        using (var source = new HostDirectory(tmp["src"])) ErofsWriter.Write(source, tmp["a.erofs"]);
        using (var image = ErofsImage.Open(tmp["a.erofs"])) ErofsWriter.Write(image, tmp["b.erofs"]);
        using (var a = ErofsImage.Open(tmp["a.erofs"]))
        using (var b = ErofsImage.Open(tmp["b.erofs"]))
            TreeComparer.AssertSame(a, b);
        Assert.True(File.ReadAllBytes(tmp["a.erofs"]).AsSpan().SequenceEqual(File.ReadAllBytes(tmp["b.erofs"])), "re-written image differs");
    }

    static void FixChecksum(byte[] image)
    {
        if (image.Length < 4096) return;
        uint crc = ErofsSuperblock.ComputeChecksum(image.AsSpan(1024, 3072), 4096);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(1028), crc);
    }

    static Exception? ReadEverything(string path)
    {
        try
        {
            using var fs = ErofsImage.Open(path);
            var buf = new byte[1 << 16];
            foreach (var e in fs.Walk())
            {
                _ = fs.Lookup(e.Path);
                if (e.Type != EntryType.Regular) continue;
                // A damaged size can claim petabytes of holes: read a bounded prefix and the tail.
                long limit = Math.Min(e.Size, 1 << 20);
                for (long off = 0; off < limit; off += buf.Length) fs.Read(e, off, buf);
                if (e.Size > 0) fs.Read(e, e.Size - 1, buf);
                fs.GetExtents(e);
            }
            return null;
        }
        catch (Exception e) { return e; }
    }
}
