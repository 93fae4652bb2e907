using System.CommandLine;
using Zar.Consumers;
using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Host;
using Zar.Sources.Registry;
using Zar.Stores;

namespace Zar.Cli;

/// <summary>
/// flists (rfs's <c>.fl</c>): <c>zar flist SOURCE -s STORE -o X.fl</c>, rfs's pack/unpack/clone/config, and
/// docker2fl. <c>-s</c> is one recursive option: where the writers put blobs, and where every reader
/// (ls, cat, extract, diff, convert, mount) fetches an fl's blobs instead of its own routes.
/// </summary>
static class FlistCommands
{
    public static readonly Option<string[]> Stores = new("--store", "-s")
    {
        Description = "flist store [xx-yy=]URL (repeatable): dir:///path, zdb://[user:pass@]host:port[/ns], s3://KEY:SECRET@host:port/bucket[?region=R], s3s://, http(s):// (read-only); xx-yy is the range of blob id first bytes (hex, default 00-ff)",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public static void AddTo(Command root)
    {
        root.Options.Add(Stores);
        root.Subcommands.Add(Flist());
        root.Subcommands.Add(Docker2fl());
    }

    /// <summary>How the reading commands open an fl: from the stores given with <c>-s</c>, else its own routes.</summary>
    public static FlistOpenOptions ReadOptions(ParseResult p) => new()
    {
        Stores = p.GetValue(Stores) ?? [],
        DiskCacheDirectory = Path.Combine(p.GetValue(ImageOptions.Cache) ?? Zar.Blobs.DirectoryBlobStore.DefaultCacheRoot(), "flist"),
    };

    static string[] RequireStores(ParseResult p) =>
        p.GetValue(Stores) is { Length: > 0 } s ? s : throw new ZarException("give at least one store: -s [xx-yy=]URL");

    static readonly Option<bool> NoStrip = new("--no-strip-password") { Description = "keep store passwords in the routes the fl records (default: stripped)" };

    static Command Flist()
    {
        var source = new Argument<string>("SOURCE") { Description = "image reference, layer, directory or image file" };
        var output = new Option<string>("--output", "-o") { Description = "the .fl file to write", Required = true };
        var tags = new Option<string[]>("--tag", "-t") { Description = "record a tag KEY=VALUE (repeatable; e.g. version, description)", AllowMultipleArgumentsPerToken = false };
        var noStartup = new Option<bool>("--no-startup") { Description = "do not add /.startup.toml from the image config" };
        var cmd = new Command("flist", "write an rfs-compatible flist: metadata in a .fl file, file contents as encrypted 512 KiB blobs in the stores")
            { source, output, tags, noStartup, NoStrip };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var router = ContentRouter.Open(RequireStores(p));
            router.RequireWritableCoverage();
            using var fs = ImageOptions.Open(p, p.GetValue(source)!);
            var startup = p.GetValue(noStartup) ? null : Docker2Fl.StartupFor(fs);
            Report(Write(fs, p.GetValue(output)!, router, p, startup, ParseTags(p.GetValue(tags))), debug: false);
            return 0;
        }));
        cmd.Subcommands.Add(Pack());
        cmd.Subcommands.Add(Unpack());
        cmd.Subcommands.Add(Clone());
        cmd.Subcommands.Add(Config());
        return cmd;
    }

    static FlistWriteResult Write(IReadOnlyFileSystem fs, string output, ContentRouter router, ParseResult p, byte[]? startup, Dictionary<string, string> tags)
    {
        long total = ProgressBar.Interactive ? fs.Walk().Where(e => e.IsRegular).Sum(e => e.Size) : 0;
        return ProgressBar.Run("writing " + Path.GetFileName(output), total, progress => FlistWriter.Write(fs, output, router, new FlistWriteOptions
        {
            StripPasswords = !p.GetValue(NoStrip),
            StartupToml = startup,
            Tags = tags,
            Progress = progress,
        }));
    }

    static void Report(FlistWriteResult r, bool debug)
    {
        foreach (var w in r.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
        Console.WriteLine($"{r.Path}: {r.Inodes} inodes, {r.Files} files, {r.Bytes} bytes in {r.Chunks} chunks, {r.UniqueBlobs} distinct blobs: " +
            $"{r.BlobsUploaded} uploaded ({r.BlobBytesUploaded} bytes), {r.BlobsSkipped} skipped (already in the stores)");
        if (debug) Console.Error.WriteLine($"zar: {r.Chunks - r.UniqueBlobs} chunks repeated an earlier one and were not encoded again");
    }

    static Dictionary<string, string> ParseTags(string[]? tags)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in tags ?? [])
        {
            int eq = t.IndexOf('=');
            if (eq <= 0) throw new ZarException($"--tag {t}: expected KEY=VALUE");
            d[t[..eq]] = t[(eq + 1)..];
        }
        return d;
    }

    static Option<string> Meta() => new("--meta", "-m") { Description = "the .fl file", Required = true };

    static Command Pack()
    {
        var meta = Meta();
        var dir = new Argument<string>("DIR") { Description = "directory to pack" };
        var cmd = new Command("pack", "rfs pack: a directory into an fl and its blobs") { meta, dir, NoStrip };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var path = p.GetValue(dir)!;
            if (!Directory.Exists(path)) throw new ZarNotFoundException($"{path}: no such directory");
            using var router = ContentRouter.Open(RequireStores(p));
            router.RequireWritableCoverage();
            using var fs = new HostDirectory(path);
            Report(Write(fs, p.GetValue(meta)!, router, p, null, new()), debug: false);
            return 0;
        }));
        return cmd;
    }

    static Command Unpack()
    {
        var meta = Meta();
        var dir = new Argument<string>("DIR") { Description = "target directory (created if missing)" };
        var preserve = new Option<bool>("--preserve-ownership", "-p") { Description = "set owners (uid/gid) as recorded" };
        var cmd = new Command("unpack", "rfs unpack: an fl's tree, with its blobs from its stores (or -s), into a directory") { meta, dir, preserve };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var fl = FlistImage.Open(p.GetValue(meta)!, ReadOptions(p));
            var target = p.GetValue(dir)!;
            Directory.CreateDirectory(target);
            long total = ProgressBar.Interactive ? ((IReadOnlyFileSystem)fl).Walk().Where(e => e.IsRegular).Sum(e => e.Size) : 0;
            var summary = ProgressBar.Run("unpacking", total, progress => Extractor.Extract(fl, target, new ExtractOptions
            {
                PreserveOwnership = p.GetValue(preserve),
            }, progress == null ? null : new Progress<ExtractProgress>(x => progress.Report(x.Bytes))));
            foreach (var w in summary.Warnings) Console.Error.WriteLine($"zar: warning: {w}");
            Console.WriteLine($"{target}: {summary.Entries} entries, {summary.Files} files, {summary.Bytes} bytes");
            return 0;
        }));
        return cmd;
    }

    static Command Clone()
    {
        var meta = Meta();
        var cmd = new Command("clone", "rfs clone: copy every blob of an fl from its stores to the stores given with -s (routes unchanged)") { meta };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            using var target = ContentRouter.Open(RequireStores(p));
            using var fl = FlistImage.Open(p.GetValue(meta)!, new FlistOpenOptions());
            var r = ProgressBar.Run("cloning", fl.BlobIds().Count, progress => FlistClone.Clone(fl, target, 4, progress));
            Console.WriteLine($"{p.GetValue(meta)}: {r.Blobs} blobs, {r.Copied} copied, {r.Skipped} already there");
            return 0;
        }));
        return cmd;
    }

    static Command Config()
    {
        var meta = Meta();
        var cmd = new Command("config", "rfs config: list or edit an fl's tags and stores") { meta };

        var tag = new Command("tag", "the fl's tags");
        var tagList = new Command("list", "print KEY=VALUE per tag");
        tagList.SetAction(p => Errors.Guard(() =>
        {
            foreach (var t in FlistConfig.Tags(p.GetValue(meta)!)) Console.WriteLine($"{t.Key}={t.Value}");
            return 0;
        }));
        var tagValues = new Option<string[]>("--tag", "-t") { Description = "KEY=VALUE (repeatable)", Required = true, AllowMultipleArgumentsPerToken = false };
        var tagAdd = new Command("add", "add or replace tags") { tagValues };
        tagAdd.SetAction(p => Errors.Guard(() =>
        {
            FlistConfig.AddTags(p.GetValue(meta)!, ParseTags(p.GetValue(tagValues)).Select(kv => new FlistTag(kv.Key, kv.Value)));
            return 0;
        }));
        var tagKeys = new Option<string[]>("--key", "-k") { Description = "tag key to delete (repeatable)", AllowMultipleArgumentsPerToken = false };
        var tagAll = new Option<bool>("--all", "-a") { Description = "delete every tag" };
        var tagDelete = new Command("delete", "delete tags by key, or all") { tagKeys, tagAll };
        tagDelete.SetAction(p => Errors.Guard(() =>
        {
            var fl = p.GetValue(meta)!;
            if (p.GetValue(tagAll)) FlistConfig.DeleteAllTags(fl);
            else if (p.GetValue(tagKeys) is { Length: > 0 } keys) FlistConfig.DeleteTags(fl, keys);
            else throw new ZarException("give --key KEY or --all");
            return 0;
        }));
        tag.Subcommands.Add(tagList);
        tag.Subcommands.Add(tagAdd);
        tag.Subcommands.Add(tagDelete);

        var store = new Command("store", "the fl's routes: which store serves which blob ids");
        var storeList = new Command("list", "print range:[start-end] store:URL per route");
        storeList.SetAction(p => Errors.Guard(() =>
        {
            foreach (var r in FlistConfig.Routes(p.GetValue(meta)!)) Console.WriteLine(r);
            return 0;
        }));
        var storeAdd = new Command("add", "append routes (-s [xx-yy=]URL, repeatable)") { NoStrip };
        storeAdd.SetAction(p => Errors.Guard(() =>
        {
            FlistConfig.AddRoutes(p.GetValue(meta)!, RequireStores(p), !p.GetValue(NoStrip));
            return 0;
        }));
        var storeAll = new Option<bool>("--all", "-a") { Description = "delete every route" };
        var storeDelete = new Command("delete", "delete the routes whose URL is exactly -s URL, or all") { storeAll };
        storeDelete.SetAction(p => Errors.Guard(() =>
        {
            var fl = p.GetValue(meta)!;
            if (p.GetValue(storeAll)) FlistConfig.DeleteAllRoutes(fl);
            else if (p.GetValue(Stores) is { Length: > 0 } urls) FlistConfig.DeleteRoutes(fl, urls);
            else throw new ZarException("give -s URL or --all");
            return 0;
        }));
        store.Subcommands.Add(storeList);
        store.Subcommands.Add(storeAdd);
        store.Subcommands.Add(storeDelete);

        cmd.Subcommands.Add(tag);
        cmd.Subcommands.Add(store);
        return cmd;
    }

    static Command Docker2fl()
    {
        var image = new Option<string>("--image-name", "-i") { Description = "image: a registry name (redis, ghcr.io/x/y:tag) or any image reference (oci:DIR:TAG, docker-archive:FILE, ...)", Required = true };
        var debug = new Option<bool>("--debug", "-d") { Description = "more detail on stderr" };
        var username = new Option<string>("--username") { Description = "registry user" };
        var password = new Option<string>("--password") { Description = "registry password" };
        var cmd = new Command("docker2fl", "docker2fl without Docker: an image straight from its registry or layout into <name>-<tag>.fl in the current directory, with /.startup.toml from its config")
            { image, debug, username, password };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var name = p.GetValue(image)!;
            using var router = ContentRouter.Open(RequireStores(p));
            router.RequireWritableCoverage();
            var options = ImageOptions.OpenOptions(p);
            if (p.GetValue(username) is { } user)
                options = options with { Registry = options.Registry with { Client = options.Registry.Client with { Credential = new RegistryCredential(user, p.GetValue(password) ?? "") } } };
            using var fs = SourceOpener.OpenFileSystem(Docker2Fl.SourceReference(name), options);
            var output = Path.Combine(Environment.CurrentDirectory, Docker2Fl.OutputName(name));
            var result = Write(fs, output, router, p, Docker2Fl.StartupFor(fs), new());
            Report(result with { Path = Path.GetFileName(output) }, p.GetValue(debug));
            return 0;
        }));
        return cmd;
    }
}
