using Zar.Formats.Tarfs;
using Zar.Formats.Verity;
using Zar.Model;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Tarfs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;
using ErofsMount = Zar.Tests.Formats.Erofs.Mount;

namespace Zar.Tests.Formats.Verity;

/// <summary>
/// Our dm-verity trees against veritysetup (cryptsetup-bin): byte-identical to <c>veritysetup format</c>, accepted
/// by <c>veritysetup verify</c>, and rejected by both after one flipped byte. (This kernel has no device-mapper,
/// so <c>veritysetup open</c> cannot run here.)
/// </summary>
public class VerityTreeTests
{
    static string Options(VerityParameters p) => p.VeritysetupOptions.Replace("-s \"\"", "--salt=-");

    static (int Code, string Out, string Err) Veritysetup(string verb, VerityParameters p, string file, string? root = null) =>
        Tools.Run(Tools.Require("veritysetup"), [verb, .. Options(p).Split(' '), file, file, .. root == null ? Array.Empty<string>() : [root]]);

    /// <summary>Data with every block different (so a misplaced digest shows), zero blocks included.</summary>
    static void WriteData(string path, long bytes, int seed)
    {
        using var f = File.Create(path);
        var rng = new Random(seed);
        var block = new byte[1 << 16];
        for (long done = 0; done < bytes;)
        {
            int n = (int)Math.Min(block.Length, bytes - done);
            if ((done >> 16) % 3 == 1) Array.Clear(block); else rng.NextBytes(block);
            f.Write(block, 0, n);
            done += n;
        }
    }

    [Theory]
    [InlineData(512, 1)]
    [InlineData(512, 511)]
    [InlineData(512, 512)]
    [InlineData(512, 513)]
    [InlineData(512, 16385)]
    [InlineData(4096, 1)]
    [InlineData(4096, 511)]
    [InlineData(4096, 512)]
    [InlineData(4096, 513)]
    [InlineData(512, 2097152)]   // 1 GiB
    [InlineData(4096, 262144)]   // 1 GiB
    public void TreeIsByteIdenticalToVeritysetupFormat(int dataBlockSize, long blocks)
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        WriteData(t["ours"], blocks * dataBlockSize, (int)blocks);
        File.Copy(t["ours"], t["theirs"]);
        var ours = VerityTree.Format(t["ours"], dataBlockSize);
        Assert.Equal(blocks, ours.Parameters.DataBlocks);
        var r = Veritysetup("format", ours.Parameters, t["theirs"]);
        Assert.True(r.Code == 0, r.Err);
        var root = r.Out.Split('\n').First(l => l.StartsWith("Root hash:")).Split(':')[1].Trim();
        Assert.Equal(root, ours.RootHash);
        Assert.Equal(new FileInfo(t["theirs"]).Length, new FileInfo(t["ours"]).Length);
        Assert.True(FilesEqual(t["ours"], t["theirs"]), "tree bytes differ from veritysetup format's");
        Assert.Null(VerityTree.Verify(t["ours"], ours.Parameters, ours.RootHash));
    }

    static bool FilesEqual(string a, string b)
    {
        using var fa = File.OpenRead(a);
        using var fb = File.OpenRead(b);
        var ba = new byte[1 << 20];
        var bb = new byte[1 << 20];
        while (true)
        {
            int na = fa.ReadAtLeast(ba, ba.Length, false), nb = fb.ReadAtLeast(bb, bb.Length, false);
            if (na != nb || !ba.AsSpan(0, na).SequenceEqual(bb.AsSpan(0, nb))) return false;
            if (na == 0) return true;
        }
    }

    [Fact]
    public void ZeroBlocksIsRefusedAsVeritysetupRefusesIt()
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        File.WriteAllBytes(t["empty"], []);
        var e = Assert.Throws<ZarException>(() => VerityTree.Format(t["empty"]));
        Assert.Contains("0 blocks", e.Message);
        Assert.Equal(0, new FileInfo(t["empty"]).Length);
        var r = Tools.Run(Tools.Require("veritysetup"), ["format", "--no-superblock", "--format=1", "--salt=-", "--hash=sha256",
            "--data-block-size=512", "--hash-block-size=4096", "--data-blocks", "0", "--hash-offset", "0", t["empty"], t["empty"]]);
        Assert.NotEqual(0, r.Code);
    }

    /// <summary>The vectors of dm-verity.md section 7.3 (checked there with veritysetup 2.6.1).</summary>
    [Theory]
    [InlineData(1, "zero", "076a27c79e5ace2a3d47f9dd2e83e4ff6ea8872b3c2218f66c92b89b55f36560", 512)]
    [InlineData(8, "zero", "e05395ee88229ff246871f450145adb3272b2ed9ce8e829b80763e7e58750cf3", 8192)]
    [InlineData(129, "index", "5b1db2e3ec7acb1865a3782f0909e1e8d4d42106952041e303b5a88a5d739b99", 81920)]
    [InlineData(16385, "zero", "a45dd7ac27be035d2b41e64d77d66dacbbe1c86c548d3ca43bc45b6461041152", 8933376)]
    public void SpecVectors(int blocks, string fill, string root, long fileBytes)
    {
        using var t = new TempDir();
        var data = new byte[blocks * 512];
        if (fill == "index") for (int i = 0; i < blocks; i++) data.AsSpan(i * 512, 512).Fill((byte)(i & 0xFF));
        File.WriteAllBytes(t["d"], data);
        var v = VerityTree.Format(t["d"]);
        Assert.Equal(root, v.RootHash);
        // N = 1: no hash blocks, nothing written (as veritysetup).
        Assert.Equal(fileBytes, new FileInfo(t["d"]).Length);
    }

    [Fact]
    public void TarfsDiskWithVerityPassesVeritysetupVerifyAndFailsAfterAFlippedByte()
    {
        Tools.RequireRoot();
        Tools.Require("veritysetup");
        using var t = new TempDir();
        var layers = TarfsLayers.Create(t);
        using var stack = layers.OpenStack();
        var disk = Assert.Single(TarfsBuilder.Build(stack, t["image.disk"], new TarfsOptions { Mode = TarfsMode.ImageBlockWithVerity }));
        var v = disk.Verity!;
        Assert.Equal(512, v.Parameters.DataBlockSize);
        Assert.Equal(0, v.Parameters.HashOffset % 4096);
        Assert.Equal(v.Parameters.End, new FileInfo(t["image.disk"]).Length);
        var ok = Veritysetup("verify", v.Parameters, t["image.disk"], v.RootHash);
        Assert.True(ok.Code == 0, $"veritysetup verify: {ok.Out}{ok.Err}");
        Assert.Null(VerityTree.Verify(t["image.disk"], v.Parameters, v.RootHash));

        // The EROFS part still loop-mounts by itself: the kernel never reads past its own blocks.
        using (var m = ErofsMount.Erofs(t["image.disk"], t["mnt"]))
            Assert.True(File.Exists(Path.Combine(m.Path, "etc/conf")));

        // One flipped byte anywhere in the data (metadata, a tar header, file data) is caught.
        foreach (long at in new[] { 1100L, v.Parameters.DataBytes / 2 + 77, v.Parameters.DataBytes - 1 })
        {
            File.Copy(t["image.disk"], t["bad"], overwrite: true);
            using (var f = File.Open(t["bad"], FileMode.Open))
            {
                f.Position = at;
                int b = f.ReadByte();
                f.Position = at;
                f.WriteByte((byte)(b ^ 0x01));
            }
            var bad = Veritysetup("verify", v.Parameters, t["bad"], v.RootHash);
            Assert.True(bad.Code != 0, $"veritysetup verify accepted a flipped byte at {at}");
            var ours = VerityTree.Verify(t["bad"], v.Parameters, v.RootHash);
            Assert.NotNull(ours);
            Assert.Contains($"data block {at / 512} ", ours);
        }
        // A flipped byte in the tree itself.
        File.Copy(t["image.disk"], t["bad"], overwrite: true);
        using (var f = File.Open(t["bad"], FileMode.Open)) { f.Position = v.Parameters.HashOffset + 5; f.WriteByte(0xEE); }
        Assert.NotEqual(0, Veritysetup("verify", v.Parameters, t["bad"], v.RootHash).Code);
        Assert.NotNull(VerityTree.Verify(t["bad"], v.Parameters, v.RootHash));
    }

    [Fact]
    public void LayerBlockWithVerityEveryDiskPassesVeritysetupVerifyAndMounts()
    {
        Tools.RequireRoot();
        Tools.Require("veritysetup");
        using var t = new TempDir();
        var layers = TarfsLayers.Create(t);
        using var stack = layers.OpenStack();
        var disks = TarfsBuilder.Build(stack, t["disks"], new TarfsOptions { Mode = TarfsMode.LayerBlockWithVerity });
        Assert.Equal(layers.PlainTars.Count, disks.Count);
        for (int i = 0; i < disks.Count; i++)
        {
            var v = disks[i].Verity!;
            var ok = Veritysetup("verify", v.Parameters, disks[i].Path, v.RootHash);
            Assert.True(ok.Code == 0, $"disk {i + 1}: veritysetup verify: {ok.Out}{ok.Err}");
            using var m = ErofsMount.Erofs(disks[i].Path, t[$"mnt{i}"]);
            using var kernel = new global::Zar.Sources.Host.HostDirectory(m.Path);
            TreeAssert.Equal(stack.GetLayer(i, global::Zar.Overlay.WhiteoutFormat.Overlay), kernel, compareRoot: false);
        }
    }

    [Fact]
    public void CliFormatAndVerify()
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        WriteData(t["f"], 1000 * 512 + 100, 3); // not a whole number of blocks: padded with zeros
        var r = ZarCli.Run("verity", "format", t["f"], "--json");
        Assert.True(r.Code == 0, r.Err);
        var json = System.Text.Json.JsonDocument.Parse(r.Out).RootElement;
        string root = json.GetProperty("root_hash").GetString()!;
        long n = json.GetProperty("data_blocks").GetInt64(), h = json.GetProperty("hash_offset").GetInt64();
        Assert.Equal(1001, n);
        Assert.Equal(516096, h);
        var p = new VerityParameters(n, h);
        Assert.Equal(0, Veritysetup("verify", p, t["f"], root).Code);
        r = ZarCli.Run("verity", "verify", t["f"], "--root-hash", root, "--data-blocks", n.ToString(), "--hash-offset", h.ToString());
        Assert.True(r.Code == 0, r.Err);
        using (var f = File.Open(t["f"], FileMode.Open)) { f.Position = 300 * 512 + 9; f.WriteByte(0x42); }
        r = ZarCli.Run("verity", "verify", t["f"], "--root-hash", root, "--data-blocks", n.ToString());
        Assert.Equal(1, r.Code);
        Assert.Contains("data block 300 ", r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
    }

    [Fact]
    public void CreateAndConvertWithVerityAppendToErofsAndRefuseZar()
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        Directory.CreateDirectory(t["src/d"]);
        File.WriteAllText(t["src/d/f"], "verity");
        WriteData(t["src/big"], 200_000, 9);
        foreach (var blockSize in new[] { "4096", "512" })
        {
            var image = t[$"img{blockSize}.erofs"];
            var r = ZarCli.Run("create", t["src"], "-o", image, "--format", "erofs", "--block-size", blockSize, "--verity");
            Assert.True(r.Code == 0, r.Err);
            var verify = r.Out.Split('\n').First(l => l.Contains("verify: ")).Split("verify: ")[1];
            Assert.Contains($"--data-block-size={blockSize} ", verify);
            var ok = Tools.Run("sh", ["-c", verify]);
            Assert.True(ok.Code == 0, $"{verify}: {ok.Err}");
            Assert.Equal("verity", ZarCli.Run("cat", image, "d/f").Out);
            Assert.Contains("verity root hash:", ZarCli.Run("inspect", image).Out);
        }
        var zar = ZarCli.Run("create", t["src"], "-o", t["img.zar"], "--verity");
        Assert.Equal(2, zar.Code);
        Assert.Contains("--verity needs --format erofs", zar.Err);
        Assert.False(File.Exists(t["img.zar"]));
    }

    [Fact]
    public void SeparateHashFileMatchesVeritysetup()
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        WriteData(t["data"], 777 * 4096, 11);
        var r = ZarCli.Run("verity", "format", t["data"], "--data-block-size", "4096", "--hash-file", t["tree"], "--json");
        Assert.True(r.Code == 0, r.Err);
        var root = System.Text.Json.JsonDocument.Parse(r.Out).RootElement.GetProperty("root_hash").GetString()!;
        Assert.Equal(777 * 4096, new FileInfo(t["data"]).Length); // the data file is untouched
        var theirs = Tools.Run(Tools.Require("veritysetup"), ["format", "--no-superblock", "--format=1", "--salt=-", "--hash=sha256",
            "--data-block-size=4096", "--hash-block-size=4096", t["data"], t["theirs"]]);
        Assert.True(theirs.Code == 0, theirs.Err);
        Assert.Contains(root, theirs.Out);
        Assert.True(FilesEqual(t["tree"], t["theirs"]), "separate tree differs from veritysetup's");
        r = ZarCli.Run("verity", "verify", t["data"], "--root-hash", root, "--data-block-size", "4096", "--hash-file", t["tree"]);
        Assert.True(r.Code == 0, r.Err);
    }
}
