namespace Zar.Bench;

static class Corpus
{
    /// <summary>The Debian rootfs from ../shared/corpus/make-debian-image.sh when it was built, else /usr.</summary>
    public static string DefaultTree()
    {
        var corpus = Environment.GetEnvironmentVariable("ZAR_CORPUS") ?? "/var/tmp/zar-corpus";
        var rootfs = Path.Combine(corpus, "rootfs", "bookworm-minbase");
        return Directory.Exists(rootfs) ? rootfs : "/usr";
    }
}
