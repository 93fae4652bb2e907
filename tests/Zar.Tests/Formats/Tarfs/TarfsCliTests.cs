using System.Text.Json;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Tarfs;

/// <summary><c>zar tarfs</c> as a user runs it: the printed verity parameters work with veritysetup, inspect/ls/cat read the disks, bad tars fail in one line.</summary>
public class TarfsCliTests
{
    static string MakeTar(TempDir t)
    {
        File.WriteAllBytes(t["layer.tar"], new LayerTarBuilder()
            .Dir("etc").File("etc/hostname", "tarfs\n").FileBytes("big", Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray())
            .Hardlink("big2", "big").Symlink("link", "etc/hostname").Build());
        return t["layer.tar"];
    }

    [Fact]
    public void ImageBlockWithVerityJsonParametersWorkWithVeritysetupAndInspect()
    {
        Tools.Require("veritysetup");
        using var t = new TempDir();
        var tar = MakeTar(t);
        var r = ZarCli.Run("tarfs", "tar:" + tar, "--mode", "image_block_with_verity", "-o", t["image.disk"], "--json");
        Assert.True(r.Code == 0, r.Err);
        var disk = JsonDocument.Parse(r.Out).RootElement[0];
        var v = disk.GetProperty("verity");
        string root = v.GetProperty("root_hash").GetString()!;
        long n = v.GetProperty("data_blocks").GetInt64(), h = v.GetProperty("hash_offset").GetInt64();
        Assert.Equal(512, v.GetProperty("data_block_size").GetInt32());
        Assert.StartsWith("L=$(losetup", v.GetProperty("open").GetString());
        Assert.Contains($"--data-blocks {n} --hash-offset {h} $L zar-verity $L {root}", v.GetProperty("open").GetString());
        var verify = Tools.Run("sh", ["-c", v.GetProperty("verify").GetString()!]);
        Assert.True(verify.Code == 0, $"{v.GetProperty("verify").GetString()}: {verify.Err}");

        r = ZarCli.Run("inspect", t["image.disk"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("block size:            512", r.Out);
        Assert.Contains("device 1:", r.Out);
        Assert.Contains($"verity root hash:      {root}", r.Out);
        r = ZarCli.Run("cat", t["image.disk"], "etc/hostname");
        Assert.Equal("tarfs\n", r.Out);
        r = ZarCli.Run("verity", "verify", t["image.disk"], "--root-hash", root, "--hash-offset", h.ToString());
        Assert.True(r.Code == 0, r.Err);

        // Plain text output carries the same parameters in Nydus's "dm-verity options:" form.
        r = ZarCli.Run("tarfs", "tar:" + tar, "--mode", "image_block_with_verity", "-o", t["again.disk"]);
        Assert.Contains($"dm-verity options: --no-superblock --format=1 -s \"\" --hash=sha256 --data-block-size=512 --hash-block-size=4096 --data-blocks {n} --hash-offset {h} {root}", r.Out);
        r = ZarCli.Run("inspect", t["again.disk"]);
        Assert.Contains($"verity root hash:      {root}", r.Out);

        r = ZarCli.Run("tarfs", "tar:" + tar, "--mode", "image_block", "-o", t["plain.disk"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("verity:                none", ZarCli.Run("inspect", t["plain.disk"]).Out);
    }

    [Fact]
    public void LayerBlockNamesAndMetaOnlyMountCommand()
    {
        Tools.RequireRoot();
        using var t = new TempDir();
        var tar = MakeTar(t);
        var r = ZarCli.Run("tarfs", "tar:" + tar, "--mode", "layer_block", "-o", t["out"]);
        Assert.True(r.Code == 0, r.Err);
        var disk = Assert.Single(Directory.GetFiles(t["out"]));
        Assert.Matches(@"/01-[0-9a-f]{12}\.layer\.disk$", disk);
        Assert.Contains($"mount: mount -t erofs -o loop,ro {disk} MNT", r.Out);

        r = ZarCli.Run("tarfs", "tar:" + tar, "--mode", "image_block", "--meta-only", "-o", t["image.meta"]);
        Assert.True(r.Code == 0, r.Err);
        var mount = r.Out.Split('\n').First(l => l.TrimStart().StartsWith("mount:")).Trim()["mount:".Length..].Trim();
        // Our commands read it given the tar as its device (zar ls/cat --device, as printed).
        var devices = r.Out.Split('\n').Where(l => l.TrimStart().StartsWith("device:")).Select(l => l.Trim()["device:".Length..].Trim()).ToList();
        Assert.Contains("read: zar ls ", r.Out);
        var cat = ZarCli.Run(["cat", t["image.meta"], "etc/hostname", .. devices.SelectMany(d => new[] { "--device", d })]);
        Assert.True(cat.Code == 0, cat.Err);
        Assert.Equal("tarfs\n", cat.Out);
        Assert.Contains("device=", mount);
        Directory.CreateDirectory(t["mnt"]);
        var m = Tools.Run("sh", ["-c", mount.Replace(" MNT", " " + t["mnt"])]);
        try
        {
            Assert.True(m.Code == 0, $"{mount}: {m.Err}");
            Assert.Equal("tarfs\n", File.ReadAllText(Path.Combine(t["mnt"], "etc/hostname")));
            Assert.Equal(300_000, new FileInfo(Path.Combine(t["mnt"], "big2")).Length);
        }
        finally
        {
            Tools.Run("umount", [t["mnt"]]);
            // The printed command attached the tars as loop devices (the mount options do not name them).
            foreach (var device in devices)
                foreach (var line in Tools.Run("losetup", ["-j", device]).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                    Tools.Run("losetup", ["-d", line.Split(':')[0]]);
        }
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("corrupt")]
    public void BadTarGivesOneLineAndNoOutput(string damage)
    {
        using var t = new TempDir();
        var bytes = File.ReadAllBytes(MakeTar(t));
        if (damage == "truncated") bytes = bytes[..(bytes.Length / 2 + 100)];
        else bytes[148] ^= 0x55; // the first header's checksum field
        File.WriteAllBytes(t["bad.tar"], bytes);
        foreach (var mode in new[] { "image_block_with_verity", "layer_block" })
        {
            var output = t[mode + ".out"];
            var r = ZarCli.Run("tarfs", "tar:" + t["bad.tar"], "--mode", mode, "-o", output);
            Assert.Equal(2, r.Code);
            Assert.Single(r.Err.Trim().Split('\n'));
            Assert.StartsWith("zar: ", r.Err);
            Assert.False(File.Exists(output), $"{mode}: an output file was left");
            Assert.True(!Directory.Exists(output) || Directory.GetFileSystemEntries(output).Length == 0, $"{mode}: files left in {output}");
            Assert.Empty(Directory.GetFiles(t.Path, ".*tmp*"));
        }
    }
}
