using Zar.Formats.Flist;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Stores;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Flist;

/// <summary>
/// The <see cref="IReadOnlyFileSystem"/> contract (tests/Zar.Tests/Model/FileSystemContractTests) on an fl over the
/// "every case" tree, with what an flist holds: no inode is shared (hard links are separate files there) and
/// names that are not UTF-8 carry U+FFFD. Inode numbers are the fl's ino column.
/// </summary>
public sealed class FlistContractTests(FlistContractTests.Tree tree) : IClassFixture<FlistContractTests.Tree>
{
    public sealed class Tree : IDisposable
    {
        public readonly TempDir Dir = new();
        public string Source => Dir["src"];
        public string Fl => Dir["tree.fl"];

        public Tree()
        {
            TreeFixture.CreateEverything(Source, new TreeOptions { Socket = false });
            using var host = new HostDirectory(Source);
            using var router = ContentRouter.Open(["00-7f=dir://" + Dir["a"], "80-ff=dir://" + Dir["b"]]);
            FlistWriter.Write(host, Fl, router);
        }

        public void Dispose() => Dir.Dispose();
    }

    static string FlName(string path) => ZarPath.Decode(System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(ZarPath.Encode(path))));

    [Fact]
    public void InodeNumbersAreTheFlsOwnUniqueAndStable()
    {
        using var fl = FlistImage.Open(tree.Fl);
        IReadOnlyFileSystem fs = fl;
        var walk = fs.Walk().ToList();
        Assert.Equal(1, fs.Root.Inode);
        Assert.DoesNotContain(walk, e => e.Inode <= 0);
        Assert.Equal(walk.Count, walk.Select(e => e.Inode).Distinct().Count());
        foreach (var e in walk)
        {
            Assert.Equal(e.Inode, fs.Lookup(e.Path)!.Inode);
            if (e.Path.Length == 0) continue;
            Assert.Equal(e.Inode, fs.Lookup(fs.Lookup(ZarPath.Parent(e.Path))!, e.Name)!.Inode);
        }
        Assert.Null(fs.Lookup(fs.Root, "no-such-name"));
        Assert.Null(fs.Lookup(fs.Root, ".."));
        Assert.Equal(walk.Select(e => (e.Path, e.Inode)), fs.Walk().Select(e => (e.Path, e.Inode)));
        Assert.Equal(walk.Count, fs.GetTotals().Entries);
        // Reopened, the same numbers: they are stored, not assigned on sight.
        using var again = FlistImage.Open(tree.Fl);
        Assert.Equal(walk.Select(e => (e.Path, e.Inode)), ((IReadOnlyFileSystem)again).Walk().Select(e => (e.Path, e.Inode)));
    }

    [Fact]
    public void ManyThreadsReadingRandomRangesGetTheSourceBytes()
    {
        using var host = new HostDirectory(tree.Source);
        var expected = ((IReadOnlyFileSystem)host).Walk().Where(e => e.IsRegular && e.Size > 0)
            .ToDictionary(e => FlName(e.Path), e => host.ReadAllBytes(e));
        // A small cache, so threads keep fetching and evicting while others read.
        using var fl = FlistImage.Open(tree.Fl, new FlistOpenOptions { CacheBytes = 2 << 20 });
        IReadOnlyFileSystem fs = fl;
        var files = fs.Walk().Where(e => e.IsRegular && e.Size > 0).ToArray();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), files.Select(f => f.Path).Order(StringComparer.Ordinal));
        Model.FileSystemContractTests.AssertConcurrentRandomReads(fs, files, expected, readsPerThread: 300, maxRead: 700_000);
    }

    [Fact]
    public void UseAfterDisposeIsAClearError()
    {
        var fl = FlistImage.Open(tree.Fl);
        IReadOnlyFileSystem fs = fl;
        var file = fs.Lookup(TreeFixture.BigFile)!;
        var dir = fs.Lookup("files")!;
        fs.ReadAllBytes(file);
        fl.Dispose();
        var buffer = new byte[100];
        Assert.Throws<ObjectDisposedException>(() => fs.Read(file, 0, buffer));
        Assert.Throws<ObjectDisposedException>(() => fs.List(dir).ToList());
        Assert.Throws<ObjectDisposedException>(() => fs.Lookup(TreeFixture.OneByte));
    }
}
