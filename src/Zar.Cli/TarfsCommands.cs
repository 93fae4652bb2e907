using System.CommandLine;
using System.Text.Json;
using Zar.Formats.Tarfs;
using Zar.Formats.Verity;
using Zar.Model;

namespace Zar.Cli;

/// <summary><c>zar tarfs</c> (EROFS over the layer tars, Nydus's export modes) and <c>zar verity format|verify</c>.</summary>
static class TarfsCommands
{
    public static void AddTo(Command root)
    {
        root.Subcommands.Add(Tarfs());
        root.Subcommands.Add(Verity());
    }

    static Command Tarfs()
    {
        var source = new Argument<string>("SOURCE") { Description = "image reference or layer tar: docker-archive:, oci:, oci-archive:, docker://, tar:, or a path" };
        var mode = new Option<string>("--mode", "-m") { Description = "layer_block (a directory of per-layer disks), image_block (one disk), layer_block_with_verity, image_block_with_verity", Required = true };
        mode.AcceptOnlyFromAmong([.. TarfsModes.Names]);
        var output = new Option<string>("--output", "-o") { Description = "layer modes: the directory for NN-<diffid12>.layer.disk; image modes: the disk file", Required = true };
        var metaOnly = new Option<bool>("--meta-only") { Description = "write the EROFS metadata alone; the layer tars are extra devices (mount -o device=), as mkfs.erofs --tar=i" };
        var json = new Option<bool>("--json") { Description = "print the disks, their sizes, mount commands and verity parameters as JSON" };
        var cmd = new Command("tarfs", "EROFS with 512-byte blocks pointing into the layer tars themselves (Nydus tarfs): no file byte copied, loop-mountable")
            { source, mode, output, metaOnly, json };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var m = TarfsModes.Parse(p.GetValue(mode)!);
            var disks = ProgressBar.Multi(sink =>
            {
                using var stack = ImageOptions.OpenStack(p, p.GetValue(source)!, sink);
                foreach (var w in stack.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
                return TarfsBuilder.Build(stack, p.GetValue(output)!, new TarfsOptions
                {
                    Mode = m,
                    MetaOnly = p.GetValue(metaOnly),
                    ProgressFor = i => sink.Task($"disk {i + 1}", m.PerLayer() ? stack.Layers[i].TarBytes : stack.Layers.Sum(l => l.TarBytes)),
                });
            });
            if (p.GetValue(json)) PrintJson(disks);
            else Print(disks, m);
            return 0;
        }));
        return cmd;
    }

    static void Print(IReadOnlyList<TarfsDisk> disks, TarfsMode mode)
    {
        foreach (var d in disks)
        {
            var what = d.Layer is { } l ? $"layer {l + 1}" : "image";
            Console.WriteLine($"{d.Path}: {what}, {d.Bytes} bytes ({d.MetadataBytes} metadata, {d.TarBytes} tar), {d.PointedFiles} files in the tar, {d.CopiedFiles} copied");
            foreach (var f in d.DeviceFiles) Console.WriteLine($"  device: {f}");
            if (d.DeviceFiles.Count > 0) Console.WriteLine($"  read: zar ls {d.Path}{string.Concat(d.DeviceFiles.Select(f => " --device " + f))}");
            if (d.Verity is { } v)
            {
                Console.WriteLine($"  root hash: {v.RootHash}");
                Console.WriteLine($"  data blocks: {v.Parameters.DataBlocks}, hash offset: {v.Parameters.HashOffset}");
                Console.WriteLine($"  dm-verity options: {v.Parameters.VeritysetupOptions} {v.RootHash}");
            }
            Console.WriteLine($"  mount: {d.MountCommand()}");
        }
        if (mode.PerLayer() && disks.Count > 1)
            Console.WriteLine($"stack them (each disk mounted at MNT1..MNT{disks.Count}): mount -t overlay overlay -o ro,lowerdir={string.Join(":", Enumerable.Range(1, disks.Count).Reverse().Select(i => "MNT" + i))} MERGED");
    }

    static void PrintJson(IReadOnlyList<TarfsDisk> disks)
    {
        var items = disks.Select(d => new Dictionary<string, object?>
        {
            ["path"] = d.Path,
            ["layer"] = d.Layer + 1,
            ["bytes"] = d.Bytes,
            ["metadata_bytes"] = d.MetadataBytes,
            ["tar_bytes"] = d.TarBytes,
            ["pointed_files"] = d.PointedFiles,
            ["copied_files"] = d.CopiedFiles,
            ["devices"] = d.DeviceFiles,
            ["mount"] = d.MountCommand(),
            ["verity"] = d.Verity is not { } v ? null : VerityJson(v, d.Path),
        });
        Console.WriteLine(JsonSerializer.Serialize(items, new JsonSerializerOptions { WriteIndented = true }));
    }

    static Dictionary<string, object> VerityJson(VerityTreeInfo v, string path) => new()
    {
        ["root_hash"] = v.RootHash,
        ["data_blocks"] = v.Parameters.DataBlocks,
        ["hash_offset"] = v.Parameters.HashOffset,
        ["data_block_size"] = v.Parameters.DataBlockSize,
        ["hash_block_size"] = v.Parameters.HashBlockSize,
        ["options"] = v.Parameters.VeritysetupOptions,
        ["open"] = v.Parameters.OpenCommand(path, v.RootHash),
        ["verify"] = v.Parameters.VerifyCommand(path, v.RootHash),
    };

    static readonly Option<int> DataBlockSize = new("--data-block-size") { Description = "bytes per data block (512 for tarfs, 4096 usual)", DefaultValueFactory = _ => 512 };
    static readonly Option<int> HashBlockSize = new("--hash-block-size") { Description = "bytes per hash block", DefaultValueFactory = _ => 4096 };
    static readonly Option<long?> HashOffset = new("--hash-offset") { Description = "byte offset of the tree in the file (default: the data's end rounded up to the hash block size)" };
    static readonly Option<string> HashFile = new("--hash-file") { Description = "the tree in its own file (hash offset default 0) instead of appended to FILE" };
    static readonly Option<long?> DataBlocks = new("--data-blocks") { Description = "data blocks covered (default: the whole file; verify: up to the hash offset)" };

    static Command Verity()
    {
        var cmd = new Command("verity", "dm-verity hash trees (format 1, sha256, no salt, no superblock), as veritysetup format/verify");
        var file = new Argument<string>("FILE");
        var json = new Option<bool>("--json") { Description = "print the parameters as JSON" };
        var format = new Command("format", "append a hash tree to FILE (zero-padded to whole data blocks) and print the root hash and veritysetup options")
            { file, DataBlockSize, HashBlockSize, HashOffset, DataBlocks, HashFile, json };
        format.SetAction(p => Errors.Guard(() =>
        {
            var path = p.GetValue(file)!;
            var v = VerityTree.Format(path, p.GetValue(DataBlockSize), p.GetValue(HashBlockSize), p.GetValue(HashOffset), p.GetValue(DataBlocks), p.GetValue(HashFile));
            if (p.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(VerityJson(v, path), new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                Console.WriteLine($"root hash: {v.RootHash}");
                Console.WriteLine($"data blocks: {v.Parameters.DataBlocks}, hash offset: {v.Parameters.HashOffset}, hash blocks: {v.Parameters.HashBlocks}");
                Console.WriteLine($"dm-verity options: {v.Parameters.VeritysetupOptions} {v.RootHash}");
                Console.WriteLine($"open: {v.Parameters.OpenCommand(path, v.RootHash)}");
            }
            return 0;
        }));
        var vfile = new Argument<string>("FILE");
        var root = new Option<string>("--root-hash") { Description = "the root hash (hex)", Required = true };
        var verify = new Command("verify", "check FILE's data and hash tree against a root hash; exit 1 naming the first bad block")
            { vfile, root, DataBlockSize, HashBlockSize, HashOffset, DataBlocks, HashFile };
        verify.SetAction(p => Errors.Guard(() =>
        {
            var path = p.GetValue(vfile)!;
            int dbs = p.GetValue(DataBlockSize), hbs = p.GetValue(HashBlockSize);
            long? n = p.GetValue(DataBlocks), h = p.GetValue(HashOffset);
            var hashFile = p.GetValue(HashFile);
            VerityParameters parameters;
            if (hashFile != null) parameters = new VerityParameters(n ?? new FileInfo(path).Length / dbs, h ?? 0, dbs, hbs);
            else if (n == null && h == null) throw new ZarException("give --data-blocks N or --hash-offset H (the tree's place is not recorded in the file)");
            else parameters = n is { } blocks ? VerityParameters.For(blocks * dbs, dbs, hbs, h) : new VerityParameters(h!.Value / dbs, h.Value, dbs, hbs);
            var problem = VerityTree.Verify(path, parameters, p.GetValue(root)!, hashFile);
            if (problem != null)
            {
                Console.Error.WriteLine($"zar: {problem}");
                return 1;
            }
            Console.WriteLine($"{path}: {parameters.DataBlocks} data blocks verified, root hash {p.GetValue(root)!.ToLowerInvariant()}");
            return 0;
        }));
        cmd.Subcommands.Add(format);
        cmd.Subcommands.Add(verify);
        return cmd;
    }
}
