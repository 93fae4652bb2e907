namespace Zar.Bench;

static class Corpus
{
    static string Root => Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";

    /// <summary>The Debian rootfs from ../shared/corpus/make-debian-image.sh when it was built, else /usr.</summary>
    public static string DefaultTree()
    {
        var rootfs = Path.Combine(Root, "rootfs", "bookworm-minbase");
        return Directory.Exists(rootfs) ? rootfs : "/usr";
    }

    /// <summary>The corpus image (OCI layout, gzip layers) whose flattened tree is <see cref="MergedTree"/>.</summary>
    public static string Layout => Path.Combine(Root, "debian-oci");

    /// <summary>The corpus image's merged tree (umoci unpack of debian-oci:latest), else <see cref="DefaultTree"/>.</summary>
    public static string MergedTree()
    {
        var merged = Path.Combine(Root, "merged", "bundle", "rootfs");
        return Directory.Exists(merged) ? merged : DefaultTree();
    }
}
