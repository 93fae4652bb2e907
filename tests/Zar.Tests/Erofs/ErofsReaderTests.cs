using System.Diagnostics;
using Zar.Formats.Erofs;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Erofs;

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
    public void MkfsImage_ReaderMatchesKernelMount(string mkfsOptions)
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
        Assert.Empty(diffs);
    }

    [Fact]
    public void CompressedImage_ClearNotSupportedError()
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
    public void NotErofs_FormatError()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp["short"], new byte[100]);
        File.WriteAllBytes(tmp["zeros"], new byte[8192]);
        Assert.Contains("too short", Assert.Throws<ZarFormatException>(() => ErofsImage.Open(tmp["short"])).Message);
        Assert.Contains("bad magic", Assert.Throws<ZarFormatException>(() => ErofsImage.Open(tmp["zeros"])).Message);
        Assert.Throws<ZarNotFoundException>(() => ErofsImage.Open(tmp["missing"]));
    }

    /// <summary>
    /// Random byte flips (mostly in the metadata blocks) and truncations of a valid image: reading the
    /// whole tree either works or fails with a one-line Zar format/not-supported error; never another
    /// exception, never a hang.
    /// </summary>
    [Fact]
    public void CorruptedImages_FailCleanlyOrRead()
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
            if (iter % 8 == 7)
            {
                int len = rng.Next(0, good.Length);
                damaged = good[..len];
                what = $"truncated to {len}";
            }
            else
            {
                damaged = (byte[])good.Clone();
                int flips = rng.Next(1, 5);
                var at = new List<int>();
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
            if (error == null) { ok++; continue; }
            failed++;
            Assert.True(error is ZarFormatException or ZarNotSupportedException,
                $"iteration {iter} ({what}): {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
            Assert.DoesNotContain('\n', error.Message);
            Assert.Contains(bad, error.Message);
        }
        Assert.True(failed > 50, $"only {failed} of 400 damaged images were detected");
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
