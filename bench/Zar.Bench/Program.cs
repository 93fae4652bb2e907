using Zar.Bench;

// Benchmarks print ratios against the peer tools on the same input in the same run; they are not tests.
// Usage: Zar.Bench [zar|tar|erofs|all] [TREE] [WORKDIR] | speed [TREE|synthetic] [WORKDIR] | speed-memory [GiB] [WORKDIR] | mount [TREE] [WORKDIR] | image HOST:PORT/REPO:TAG | layers IMAGE-REF | lazy - [WORKDIR] | cfs [IMAGE] [WORKDIR] | flist [IMAGE] [WORKDIR] | tarfs [UNCOMPRESSED-OCI-LAYOUT] [WORKDIR]
var what = args.Length > 0 ? args[0] : "all";
var tree = args.Length > 1 ? args[1] : what == "speed" ? Corpus.MergedTree() : Corpus.DefaultTree();
var work = args.Length > 2 ? args[2] : Directory.CreateTempSubdirectory("zar-bench-").FullName;
Console.WriteLine($"tree: {tree}");
Console.WriteLine($"work: {work}");
try
{
    if (what is "zar" or "all") ZarBench.Run(tree, work);
    if (what is "erofs" or "all") ErofsBench.Run(tree, work);
    if (what is "image")
    {
        // TREE is an image in a registry on 127.0.0.1, e.g. 127.0.0.1:5000/zar-corpus/debian:latest
        // (../shared/corpus/local-registry.sh start && push).
        ImageBench.Run(tree, work);
    }
    if (what is "speed") SpeedBench.Run(tree, work);
    if (what is "speed-memory") SpeedBench.Memory(args.Length > 1 ? int.Parse(args[1]) : 2, work);
    if (what is "layers") LayerStackBench.Run(tree);
    if (what is "lazy") LazyBench.Run(work);
    if (what is "mount") MountBench.Run(args.Length > 1 ? tree : MountBench.DefaultTree(), work);
    if (what is "cfs") CfsBench.Run(args.Length > 1 ? args[1] : "oci:/var/tmp/zar-corpus/debian-oci:latest", work);
    if (what is "tarfs") TarfsBench.Run(args.Length > 1 ? args[1] : "/var/tmp/zar-corpus/debian-oci-plain", work);
    if (what is "flist") FlistBench.Run(args.Length > 1 ? args[1] : "oci:/var/tmp/zar-corpus/debian-oci:latest", work);
    if (what is "tar" or "all")
    {
        var tar = Path.Combine(work, "bench.tar");
        Timing.Run("tar", "-cf", tar, "-C", tree, ".");
        TarBench.Run(tar);
    }
}
finally
{
    if (args.Length <= 2) Directory.Delete(work, true);
}
return 0;
