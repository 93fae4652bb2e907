using System.CommandLine;
using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Sources;
using Zar.Sources.Lazy;

namespace Zar.Cli;

/// <summary><c>zar index</c> (layer indexes for lazy reading) and <c>zar cache</c>.</summary>
static class LazyCommands
{
    public static void AddTo(Command root)
    {
        root.Subcommands.Add(Index());
        root.Subcommands.Add(Cache());
    }

    static Command Cache()
    {
        var maxSize = new Option<long>("--max-size") { Description = "MiB of decompressed spans to keep (least recently used go first); 0 removes them all", DefaultValueFactory = _ => 0 };
        var indexes = new Option<bool>("--indexes") { Description = "also remove the cached layer indexes (they are fetched or rebuilt when needed)" };
        var prune = new Command("prune", "shrink the lazy-read cache (spans of layers read lazily; --cache selects the cache)") { maxSize, indexes };
        prune.SetAction(p => Errors.Guard(() =>
        {
            var lazy = ImageOptions.OpenOptions(p).Lazy;
            long before = Directory.Exists(lazy.SpanDirectoryPath) ? new DirectoryInfo(lazy.SpanDirectoryPath).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
            long after = SpanStore.Prune(lazy.SpanDirectoryPath, p.GetValue(maxSize) << 20);
            Console.WriteLine($"{lazy.SpanDirectoryPath}: {before / 1048576.0:F1} MiB of spans, {after / 1048576.0:F1} MiB kept");
            if (p.GetValue(indexes) && Directory.Exists(lazy.IndexDirectoryPath))
            {
                int n = 0;
                foreach (var f in Directory.EnumerateFiles(lazy.IndexDirectoryPath, "*" + LayerIndex.FileExtension)) { File.Delete(f); n++; }
                Console.WriteLine($"{lazy.IndexDirectoryPath}: {n} indexes removed");
            }
            return 0;
        }));
        return new Command("cache", "the local cache of lazily read layers") { prune };
    }

    static Command Index()
    {
        var source = new Argument<string>("SOURCE") { Description = "a layer file (.tar.gz, .tar.zst, .tar) or an image (docker://, oci:, docker-archive:, ...)" };
        var output = new Option<string>("--output", "-o") { Description = "index file (a layer file), or directory for one DIGEST.zidx per layer (an image); default: the local index cache" };
        var span = new Option<int>("--span") { Description = "MiB of uncompressed data between access points", DefaultValueFactory = _ => 4 };
        var push = new Option<bool>("--push") { Description = "also push the indexes to the image's repository (an OCI artifact referring to the image; tag sha256-DIGEST.zidx)" };
        var cmd = new Command("index", "build layer indexes (.zidx) so that layers can be read at random without decompressing them whole") { source, output, span, push };
        cmd.SetAction(p => Errors.Guard(() =>
        {
            var spec = SourceSpec.Parse(p.GetValue(source)!);
            long spanBytes = (long)p.GetValue(span) << 20;
            var options = ImageOptions.OpenOptions(p);
            if (ImageIndexer.IsLoneLayer(spec, options))
            {
                var index = LayerIndexBuilder.BuildFile(spec.Path, spanBytes);
                var path = p.GetValue(output) ?? LazySource.LocalIndexPath(Directory.CreateDirectory(options.Lazy.IndexDirectoryPath).FullName, index.Header.BlobDigest);
                index.Save(path);
                Console.WriteLine(Summary(path, index));
                return 0;
            }
            var dir = p.GetValue(output) ?? options.Lazy.IndexDirectoryPath;
            Directory.CreateDirectory(dir);
            var built = ImageIndexer.IndexImage(spec, options, dir, spanBytes, p.GetValue(push), out var pushed);
            foreach (var (index, file) in built) Console.WriteLine(Summary(file, index));
            if (pushed != null) Console.WriteLine($"pushed the indexes: {pushed}");
            return 0;
        }));
        return cmd;
    }

    static string Summary(string path, LayerIndex index) =>
        $"{path}: {index.Header.Compression.ToString().ToLowerInvariant()} layer {index.Header.BlobDigest}, {index.Header.UncompressedSize} bytes uncompressed, " +
        $"{index.Points.Count} access points, {index.Toc.Count} entries, index {new FileInfo(path).Length} bytes " +
        $"({100.0 * new FileInfo(path).Length / Math.Max(1, index.Header.UncompressedSize):0.00}% of the tar)";
}
