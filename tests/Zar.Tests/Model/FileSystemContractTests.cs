using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Overlay;
using Zar.Sources.Host;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Model;

/// <summary>
/// The contract written on <see cref="IReadOnlyFileSystem"/>, checked on every reader over the same "every
/// case" tree: inode numbers non-zero, unique per file, shared by hardlinks and stable; child look-up agrees
/// with path look-up; many threads reading random ranges of random files at once get exactly the source's
/// bytes; and use after Dispose is an <see cref="ObjectDisposedException"/>, never a crash.
/// </summary>
public sealed class FileSystemContractTests(FileSystemContractTests.Tree tree) : IClassFixture<FileSystemContractTests.Tree>
{
    public sealed class Tree : IDisposable
    {
        public readonly TempDir Dir = new();
        public string Source => Dir["src"];

        public Tree()
        {
            TreeFixture.CreateEverything(Source, new TreeOptions { Socket = false });
            using var host = new HostDirectory(Source);
            ZarBuilder.Create(host, Dir["tree.zar"]);
            ErofsWriter.Write(host, Dir["tree.erofs"]);
            Tools.Sh($"tar --format=posix --xattrs --xattrs-include='*' -S --numeric-owner -C {Materialize.Q(Source)} -cf {Materialize.Q(Dir["tree.tar"])} .");
            Tools.Sh($"gzip -c {Materialize.Q(Dir["tree.tar"])} > {Materialize.Q(Dir["tree.tgz"])}");
        }

        public void Dispose() => Dir.Dispose();
    }

    public static TheoryData<string> Readers => new() { "host", "zar", "erofs", "layer-stack", "layer-stack-gzip-unspilled", "overlay-of-zar" };

    /// <summary>Opens one kind of reader over the tree; the returned disposable owns everything opened.</summary>
    (IReadOnlyFileSystem Fs, IDisposable Owner) Open(string kind)
    {
        switch (kind)
        {
            case "host": { var fs = new HostDirectory(tree.Source); return (fs, fs); }
            case "zar": { var fs = ZarImage.Open(tree.Dir["tree.zar"]); return (fs, fs); }
            case "erofs": { var fs = ErofsImage.Open(tree.Dir["tree.erofs"]); return (fs, fs); }
            case "layer-stack":
            {
                var stack = LayerStack.Open(new FileLayersSource([tree.Dir["tree.tar"]]));
                return (stack.Merged, stack);
            }
            case "layer-stack-gzip-unspilled":
            {
                var stack = LayerStack.Open(new FileLayersSource([tree.Dir["tree.tgz"]]), new LayerStackOptions { SpillCompressedLayers = false });
                return (stack.Merged, stack);
            }
            case "overlay-of-zar":
            {
                // The tree split in two layers: the second re-adds files/ over an empty first-layer files/.
                using var host = new HostDirectory(tree.Source);
                var lowerDir = tree.Dir[$"lower-{Guid.NewGuid():N}"];
                ZarBuilder.Create(new Filtered(host, p => !p.StartsWith("files/", StringComparison.Ordinal)), lowerDir + ".zar");
                ZarBuilder.Create(new Filtered(host, p => p.Length == 0 || p == "files" || p.StartsWith("files/", StringComparison.Ordinal)), lowerDir + ".upper.zar");
                var fs = new OverlayFileSystem([ZarImage.Open(lowerDir + ".zar"), ZarImage.Open(lowerDir + ".upper.zar")], ownsLayers: true);
                return (fs, fs);
            }
            default: throw new ArgumentException(kind);
        }
    }

    [Theory]
    [MemberData(nameof(Readers))]
    public void InodeNumbersAreUniquePerFileSharedByHardlinksAndStable(string kind)
    {
        var (fs, owner) = Open(kind);
        using var _ = owner;
        var walk = fs.Walk().ToList();
        Assert.DoesNotContain(walk, e => e.Inode == 0);
        foreach (var group in walk.GroupBy(e => e.Inode).Where(g => g.Count() > 1))
        {
            // Only hardlinks share a number: regular files with the same size, content and link count.
            var names = group.ToList();
            Assert.All(names, e => Assert.Equal(EntryType.Regular, e.Type));
            Assert.All(names, e => Assert.Equal(names[0].Size, e.Size));
            Assert.All(names, e => Assert.Equal((uint)names.Count, e.LinkCount));
        }
        var hardlinked = walk.Where(e => TreeFixture.HardlinkGroup.Contains(e.Path)).Select(e => e.Inode).Distinct();
        Assert.Single(hardlinked);
        foreach (var e in walk)
        {
            Assert.Equal(e.Inode, fs.Lookup(e.Path)!.Inode);
            if (e.Path.Length == 0) continue;
            var parent = fs.Lookup(ZarPath.Parent(e.Path))!;
            Assert.Equal(e.Inode, fs.Lookup(parent, e.Name)!.Inode);
        }
        Assert.Null(fs.Lookup(fs.Root, "no-such-name"));
        Assert.Null(fs.Lookup(fs.Root, ".."));
        Assert.Equal(walk.Select(e => (e.Path, e.Inode)), fs.Walk().Select(e => (e.Path, e.Inode)));
        var totals = fs.GetTotals();
        Assert.Equal(walk.Select(e => e.Inode).Distinct().Count(), totals.Entries);
        Assert.True(totals.BlockSize is >= 512 and <= 65536);
    }

    [Theory]
    [MemberData(nameof(Readers))]
    public void ManyThreadsReadingRandomRangesGetTheSourceBytes(string kind)
    {
        using var host = new HostDirectory(tree.Source);
        var expected = ((IReadOnlyFileSystem)host).Walk().Where(e => e.IsRegular && e.Size > 0)
            .ToDictionary(e => e.Path, e => host.ReadAllBytes(e));
        var (fs, owner) = Open(kind);
        using var _ = owner;
        var files = fs.Walk().Where(e => e.IsRegular && e.Size > 0).ToArray();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), files.Select(f => f.Path).Order(StringComparer.Ordinal));
        AssertConcurrentRandomReads(fs, files, expected, readsPerThread: 400, maxRead: 300_000);
    }

    /// <summary>
    /// 8 threads read random ranges of random <paramref name="files"/> (half by a fresh path look-up from the
    /// thread, half with the walk's entry); every read must return exactly the <paramref name="expected"/> bytes.
    /// </summary>
    public static void AssertConcurrentRandomReads(IReadOnlyFileSystem fs, IReadOnlyList<Entry> files, IReadOnlyDictionary<string, byte[]> expected, int readsPerThread, int maxRead)
    {
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = Enumerable.Range(0, 8).Select(seed => new Thread(() =>
        {
            var rng = new Random(seed);
            var buffer = new byte[maxRead];
            for (int i = 0; i < readsPerThread; i++)
            {
                var f = files[rng.Next(files.Count)];
                var want = expected[f.Path];
                long offset = rng.NextInt64(want.Length);
                int length = (int)Math.Min(rng.Next(1, buffer.Length), want.Length - offset);
                var entry = rng.Next(2) == 0 ? fs.Lookup(f.Path)! : f;
                int n = fs.ReadFully(entry, offset, buffer.AsSpan(0, length));
                if (n != length || !buffer.AsSpan(0, n).SequenceEqual(want.AsSpan((int)offset, length)))
                    failures.Enqueue($"{f.Path} [{offset}, +{length}): got {n} bytes, not the source's");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(10)));
    }

    [Theory]
    [MemberData(nameof(Readers))]
    public void UseAfterDisposeIsAClearError(string kind)
    {
        var (fs, owner) = Open(kind);
        var file = fs.Lookup(TreeFixture.BigFile)!;
        var dir = fs.Lookup("files")!;
        owner.Dispose();
        var buffer = new byte[100];
        Assert.Throws<ObjectDisposedException>(() => fs.Read(file, 0, buffer));
        Assert.Throws<ObjectDisposedException>(() => fs.List(dir).ToList());
        Assert.Throws<ObjectDisposedException>(() => fs.Lookup(TreeFixture.OneByte));
    }

    /// <summary>A host tree seen through a path filter (directories on the way kept).</summary>
    sealed class Filtered(IReadOnlyFileSystem inner, Func<string, bool> keep) : IReadOnlyFileSystem
    {
        public string Description => inner.Description + " (filtered)";
        public Entry Root => inner.Root;
        bool Keep(string path) => path.Length == 0 || keep(path) || keep(path + "/x") && inner.Lookup(path)?.IsDirectory == true;
        public Entry? Lookup(string path) => Keep(path) ? inner.Lookup(path) : null;
        public IEnumerable<Entry> List(Entry directory) => inner.List(directory).Where(e => Keep(e.Path)).ToList();
        public FileData GetData(Entry file) => inner.GetData(file);
        public int Read(Entry file, long offset, Span<byte> destination) => inner.Read(file, offset, destination);
        public void Dispose() { }
    }
}
