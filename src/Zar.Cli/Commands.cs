using System.CommandLine;
using System.Text.Json;
using Zar.Consumers;
using Zar.Consumers.Cfs;
using Zar.IO;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Layers;

namespace Zar.Cli;

static class Commands
{
    public static Command Build()
    {
        // A named command rather than RootCommand: help shows "zar", not the assembly name.
        var root = new Command("zar", "zar: container images as read-only, random-access filesystem images.\n" +
            "Exit codes: 0 ok, 1 differences found (diff), 2 bad input or usage, 3 internal error.\n" +
            "The original tool's flags also work: zar -w -dir=DIR [-o OUT] [-pagealign] | zar -r [-img IMG] [-detail]");
        root.Subcommands.Add(Create());
        root.Subcommands.Add(Ls());
        root.Subcommands.Add(Cat());
        root.Subcommands.Add(Inspect());
        root.Subcommands.Add(Extract());
        root.Subcommands.Add(Diff());
        root.Subcommands.Add(Convert());
        root.Subcommands.Add(Layers());
        root.Subcommands.Add(Cfs());
        MountCommands.AddTo(root);
        LazyCommands.AddTo(root);
        FlistCommands.AddTo(root);
        TarfsCommands.AddTo(root);
        ImageOptions.AddTo(root);
        root.Options.Add(new System.CommandLine.Help.HelpOption());
        root.Options.Add(new VersionOption());
        return root;
    }

    static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "directory (or image) to pack" };
        var output = new Option<string>("--output", "-o") { Description = "output image path", Required = true };
        var noAlign = new Option<bool>("--no-page-align") { Description = "pack file data tight instead of at 4096-byte boundaries" };
        var noDedup = new Option<bool>("--no-dedup") { Description = "store identical files separately (zar)" };
        var format = FormatOption();
        var whiteouts = new Option<bool>("--overlay-whiteouts") { Description = "EROFS: store .wh.* whiteouts and opaque markers as overlayfs does (char 0/0, trusted.overlay.opaque=y)" };
        var blockSize = BlockSizeOption();
        var verity = VerityOption();
        var cmd = new Command("create", "pack a directory into an image (zar or EROFS)") { source, output, noAlign, noDedup, format, whiteouts, blockSize, verity };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var fmt = p.GetValue(format);
            if (p.GetValue(verity)) Formats.Verity.ImageVerity.Require(fmt);
            using var fs = ImageOptions.Open(p, p.GetValue(source)!);
            long total = ProgressBar.Interactive ? fs.Walk().Where(e => e.IsRegular).Sum(e => e.Size) : 0;
            var written = ProgressBar.Run("writing " + fmt.Name(), total, progress => ImageWriter.Write(fs, p.GetValue(output)!, fmt, new ImageWriteOptions
            {
                PageAlign = !p.GetValue(noAlign),
                Deduplicate = !p.GetValue(noDedup),
                OverlayWhiteouts = p.GetValue(whiteouts),
                BlockSize = p.GetValue(blockSize),
                Progress = progress,
            }));
            Console.WriteLine($"{written.Path}: {written.Summary}");
            if (p.GetValue(verity)) PrintVerity(written.Path, fmt, p.GetValue(blockSize));
            return 0;
        }));
        return cmd;
    }

    static Command Ls()
    {
        var image = new Argument<string>("IMAGE") { Description = "image file or directory" };
        var path = new Argument<string>("PATH") { Description = "path inside the image", DefaultValueFactory = _ => "/" };
        var longFormat = new Option<bool>("-l") { Description = "long listing: mode, links, uid, gid, size, mtime" };
        var json = new Option<bool>("--json") { Description = "JSON array of entries" };
        var recursive = new Option<bool>("--recursive", "-R") { Description = "list the whole subtree" };
        var cmd = new Command("ls", "list a directory of an image") { image, path, longFormat, json, recursive };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var fs = ImageOptions.Open(p, p.GetValue(image)!);
            var target = fs.Stat(p.GetValue(path)!);
            IEnumerable<Entry> entries = !target.IsDirectory ? new[] { target }
                : p.GetValue(recursive) ? fs.Walk().Where(e => e.Path.Length > 0 && IsUnder(e.Path, target.Path))
                : fs.List(target);
            bool relative = target.IsDirectory && !p.GetValue(recursive);
            if (p.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true });
                w.WriteStartArray();
                foreach (var e in entries) Listing.WriteJson(w, e);
                w.WriteEndArray();
                w.Flush();
                stdout.WriteByte((byte)'\n');
                return 0;
            }
            foreach (var e in entries)
            {
                var name = relative ? e.Name : e.Path;
                Console.WriteLine(p.GetValue(longFormat) ? Listing.LongLine(e, name) : ZarPath.Display(name));
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>--format, parsed by the library's one list of format names (an unknown name is one line naming the valid ones).</summary>
    /// <summary>EROFS block size; the check lives with the writer (<see cref="Formats.Erofs.ErofsWriterOptions.BlockSizes"/>).</summary>
    static Option<int> BlockSizeOption() => new("--block-size")
    {
        Description = $"EROFS: bytes per block, {string.Join(", ", Formats.Erofs.ErofsWriterOptions.BlockSizes)} (default 4096; below 4096 mounts on kernel 6.4+)",
        DefaultValueFactory = _ => 4096,
        Validators = { r => { if (!Formats.Erofs.ErofsWriterOptions.BlockSizes.Contains(r.GetValueOrDefault<int>())) r.AddError($"--block-size: expected one of {string.Join(", ", Formats.Erofs.ErofsWriterOptions.BlockSizes)}"); } },
    };

    internal static Option<ImageFormat> FormatOption() => new("--format")
    {
        Description = $"output format: {string.Join(" or ", ImageFormats.All.Select(f => f.Name()))} (default {ImageFormat.Zar.Name()})",
        DefaultValueFactory = _ => ImageFormat.Zar,
        CustomParser = r =>
        {
            var name = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (ImageFormats.TryParse(name, out var f)) return f;
            r.AddError("--format: " + ImageFormats.UnknownName(name));
            return default;
        },
    };

    static bool IsUnder(string path, string dir) => dir.Length == 0 || path.StartsWith(dir + "/", StringComparison.Ordinal);

    static Command Cat()
    {
        var image = new Argument<string>("IMAGE");
        var path = new Argument<string>("PATH");
        var cmd = new Command("cat", "write a file of an image to stdout") { image, path };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var fs = ImageOptions.Open(p, p.GetValue(image)!);
            var e = fs.Stat(p.GetValue(path)!);
            if (!e.IsRegular) throw new ZarException($"{ZarPath.Display(e.Path)}: not a regular file ({e.Type.ToString().ToLowerInvariant()})");
            using var stdout = Console.OpenStandardOutput();
            using var s = fs.OpenRead(e);
            s.CopyTo(stdout, 1 << 20);
            return 0;
        }));
        return cmd;
    }

    static Command Extract()
    {
        var image = new Argument<string>("IMAGE") { Description = "image file or directory" };
        var dir = new Argument<string>("DIR") { Description = "target directory (created if missing)" };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace files that already exist in DIR" };
        var noOwner = new Option<bool>("--no-same-owner") { Description = "do not restore uid/gid" };
        var maxSize = LimitOptions.MaxSize();
        var maxEntries = LimitOptions.MaxEntries();
        var cmd = new Command("extract", "write an image's tree into a directory (never outside it)") { image, dir, overwrite, noOwner, maxSize, maxEntries };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var fs = ImageOptions.Open(p, p.GetValue(image)!);
            if (fs is MergedImage merged) foreach (var w in merged.Stack.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
            var target = p.GetValue(dir)!;
            Directory.CreateDirectory(target);
            long total = ProgressBar.Interactive ? fs.Walk().Where(e => e.IsRegular).Sum(e => e.Size) : 0;
            var summary = ProgressBar.Run("extracting", total, progress => Extractor.Extract(fs, target, new ExtractOptions
            {
                Overwrite = p.GetValue(overwrite),
                PreserveOwnership = p.GetValue(noOwner) ? false : null,
                Limits = LimitOptions.Limits(p, maxSize, maxEntries),
            }, progress == null ? null : new SyncProgress<ExtractProgress>(x => progress.Report(x.Bytes))));
            foreach (var w in summary.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
            Console.WriteLine($"{target}: {summary.Entries} entries, {summary.Files} files, {summary.Bytes} bytes");
            return 0;
        }));
        return cmd;
    }

    static Command Diff()
    {
        var a = new Argument<string>("A") { Description = "directory or image" };
        var b = new Argument<string>("B") { Description = "directory or image" };
        var ignoreMtime = new Option<bool>("--ignore-mtime") { Description = "do not compare modification times" };
        var ignoreDirMtime = new Option<bool>("--ignore-dir-mtime") { Description = "do not compare directories' modification times" };
        var granularity = new Option<string>("--mtime-granularity") { Description = "compare mtimes floored to this unit: ns (default), us, ms, s" };
        var ignoreOwner = new Option<bool>("--ignore-owner") { Description = "do not compare uid/gid" };
        var ignoreRoot = new Option<bool>("--ignore-root") { Description = "do not compare the root directory's own attributes" };
        var ignoreOverlay = new Option<bool>("--ignore-overlay-xattrs") { Description = "ignore trusted.overlay.* xattrs" };
        var ignoreXattr = new Option<string[]>("--ignore-xattr") { Description = "ignore this xattr (repeatable; a trailing * matches a prefix)", AllowMultipleArgumentsPerToken = false };
        var noContent = new Option<bool>("--no-content") { Description = "do not compare file contents" };
        var cmd = new Command("diff", "compare two trees; exit 0 when equal, 1 with a list of differences")
            { a, b, ignoreMtime, ignoreDirMtime, granularity, ignoreOwner, ignoreRoot, ignoreOverlay, ignoreXattr, noContent };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            long unit = (p.GetValue(granularity) ?? "ns") switch
            {
                "ns" => 1, "us" => 1_000, "ms" => 1_000_000, "s" => 1_000_000_000,
                var other => throw new ZarException($"--mtime-granularity: expected ns, us, ms or s, not '{other}'"),
            };
            using var left = ImageOptions.Open(p, p.GetValue(a)!);
            using var right = ImageOptions.Open(p, p.GetValue(b)!);
            var diffs = Differ.Compare(left, right, new DiffOptions
            {
                IgnoreMtime = p.GetValue(ignoreMtime),
                IgnoreDirectoryMtime = p.GetValue(ignoreDirMtime),
                MtimeGranularityNanoseconds = unit,
                IgnoreOwnership = p.GetValue(ignoreOwner),
                IgnoreRootAttributes = p.GetValue(ignoreRoot),
                IgnoreOverlayXattrs = p.GetValue(ignoreOverlay),
                IgnoreXattrs = p.GetValue(ignoreXattr) ?? Array.Empty<string>(),
                CompareContent = !p.GetValue(noContent),
            });
            foreach (var d in diffs) Console.WriteLine(Differ.Render(d));
            return diffs.Count == 0 ? 0 : 1;
        }));
        return cmd;
    }

    static Command Convert()
    {
        var source = new Argument<string>("SOURCE") { Description = "image reference: docker-archive:, oci:, oci-archive:, docker://, tar:, or a path" };
        var output = new Option<string>("--output", "-o") { Description = "write the flattened image here" };
        var perLayer = new Option<string>("--per-layer") { Description = "write one image per layer into this directory (names sort bottom to top)" };
        var format = FormatOption();
        var noAlign = new Option<bool>("--no-page-align") { Description = "zar: pack file data tight" };
        var blockSize = BlockSizeOption();
        var verity = VerityOption();
        var maxSize = LimitOptions.MaxSize();
        var maxEntries = LimitOptions.MaxEntries();
        var cmd = new Command("convert", "flatten an image into one zar/EROFS image, or write one image per layer") { source, output, perLayer, format, noAlign, blockSize, verity, maxSize, maxEntries };
        cmd.Validators.Add(r =>
        {
            bool o = r.GetResult(output) != null, l = r.GetResult(perLayer) != null;
            if (o == l) r.AddError("give exactly one of --output FILE or --per-layer DIR");
        });
        cmd.SetAction(p => Errors.Guard(() =>
        {
            if (p.GetValue(verity)) Formats.Verity.ImageVerity.Require(p.GetValue(format));
            // Lines are printed after the bars are gone so stdout never interleaves with them.
            var lines = ProgressBar.Multi(sink =>
            {
                var printed = new List<string>();
                var fmt = p.GetValue(format);
                var options = new ImageWriteOptions { PageAlign = !p.GetValue(noAlign), BlockSize = p.GetValue(blockSize), Limits = LimitOptions.Limits(p, maxSize, maxEntries) };
                using var stack = ImageOptions.OpenStack(p, p.GetValue(source)!, sink);
                foreach (var w in stack.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
                long total = stack.Layers.Sum(l => l.TarBytes);
                if (p.GetValue(output) is { } outPath)
                {
                    var bar = sink.Task("writing " + Path.GetFileName(outPath), total);
                    var f = Converter.Flatten(stack, outPath, fmt, options with { Progress = bar });
                    bar?.Report(total);
                    printed.Add($"{f.Path}: {stack.Layers.Count} layers flattened, {f.Bytes} bytes");
                }
                else
                {
                    var bars = new Dictionary<int, IProgress<long>?>();
                    var files = Converter.PerLayer(stack, p.GetValue(perLayer)!, fmt, options,
                        i => bars[i] = sink.Task($"layer {i + 1}/{stack.Layers.Count}", stack.Layers[i].TarBytes));
                    foreach (var (i, bar) in bars) bar?.Report(stack.Layers[i].TarBytes);
                    for (int i = 0; i < files.Count; i++) printed.Add($"{files[i].Path}: layer {i + 1}, {files[i].Bytes} bytes");
                }
                return printed;
            });
            foreach (var line in lines) Console.WriteLine(line);
            if (p.GetValue(verity))
            {
                var images = p.GetValue(output) is { } one ? [one] : LayerFileName.ImagesIn(p.GetValue(perLayer)!);
                foreach (var image in images) PrintVerity(image, p.GetValue(format), p.GetValue(blockSize));
            }
            return 0;
        }));
        return cmd;
    }

    static Option<bool> VerityOption() => new("--verity")
    {
        Description = "EROFS: append a dm-verity tree (sha256, no salt, no superblock; data blocks of the image's block size) and print the root hash and veritysetup options",
    };

    static void PrintVerity(string image, ImageFormat format, int blockSize)
    {
        var tree = Formats.Verity.ImageVerity.Protect(image, format, blockSize);
        Console.WriteLine($"{image}: verity root hash {tree.RootHash}");
        Console.WriteLine($"  dm-verity options: {tree.Parameters.VeritysetupOptions} {tree.RootHash}");
        Console.WriteLine($"  verify: {tree.Parameters.VerifyCommand(image, tree.RootHash)}");
    }

    static Command Cfs()
    {
        var source = new Argument<string>("SOURCE") { Description = "image reference: docker-archive:, oci:, oci-archive:, docker://, tar:, or a path" };
        var dest = new Argument<string>("DEST") { Description = "folder for the per-layer zar images, Dockerfile, cfs-manifest.json and config.json" };
        var output = new Option<string>("--output") { Description = "also write the finished CFS image: oci:DIR[:TAG] or docker://HOST/REPO:TAG" };
        var cmd = new Command("cfs", "ContainerFS image generator: one zar image per layer, a Dockerfile (FROM scratch + ADD per layer + the config), and optionally the OCI image itself") { source, dest, output };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var lines = ProgressBar.Multi(sink =>
            {
                var printed = new List<string>();
                using var stack = ImageOptions.OpenStack(p, p.GetValue(source)!, sink);
                var result = CfsGenerator.Generate(stack, p.GetValue(dest)!, new CfsOptions { Open = ImageOptions.OpenOptions(p, sink) });
                foreach (var w in result.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
                foreach (var l in result.Layers) printed.Add($"{l.Path}: layer {l.Index + 1}, {l.Entries} entries, {l.ZarSize} bytes");
                printed.Add($"{Path.Combine(p.GetValue(dest)!, "Dockerfile")}: docker build -t NAME {p.GetValue(dest)}");
                if (p.GetValue(output) is { } target)
                {
                    var digest = CfsOciImage.Build(result).WriteOutputAsync(target, ImageOptions.ClientOptions(p)).GetAwaiter().GetResult();
                    printed.Add($"{target}: {digest}");
                }
                return printed;
            });
            foreach (var line in lines) Console.WriteLine(line);
            return 0;
        }));
        return cmd;
    }

    static Command Layers()
    {
        var source = new Argument<string>("SOURCE") { Description = "image reference" };
        var cmd = new Command("layers", "list an image's layers (bottom first) after checking them") { source };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var stack = ProgressBar.Multi(sink => ImageOptions.OpenStack(p, p.GetValue(source)!, sink));
            foreach (var l in stack.Layers)
                Console.WriteLine($"{l.Index + 1,3} {l.Compression.ToString().ToLowerInvariant(),-5} {l.MemberCount,8} entries {l.TarBytes,14} bytes  diff_id {l.DiffId ?? "-"}  blob {l.Digest ?? "-"}");
            return 0;
        }));
        return cmd;
    }

    static Command Inspect()
    {
        var image = new Argument<string>("IMAGE");
        var cmd = new Command("inspect", "show an image's header/footer, counts, sizes and dedup saving") { image };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var fs = ImageOptions.Open(p, p.GetValue(image)!);
            foreach (var (k, v) in Inspection.Describe(fs)) Console.WriteLine($"{k + ":",-22} {v}");
            return 0;
        }));
        return cmd;
    }
}
