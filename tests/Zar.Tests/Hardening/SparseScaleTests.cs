using Zar.Consumers;
using Zar.Formats.Erofs;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>
/// Finding 1: a sparse file of 200,000 extents took 43.6 s to extract and 119 s to convert to EROFS
/// because every read scanned the extent list from the start. Each consumer is now timed on 20,000 and
/// 200,000 extents in one run, and the bytes are checked.
/// </summary>
public sealed class SparseScaleTests : IDisposable
{
    const int N = 20_000;
    const long Step = 4096;
    readonly TempDir _t = Scaling.Scratch();
    readonly Dictionary<int, string> _tars = new();

    public void Dispose() => _t.Dispose();

    string Tar(int extents)
    {
        if (!_tars.TryGetValue(extents, out var path))
            _tars[extents] = path = HostileTars.Write(_t, $"sparse-{extents}.tar", HostileTars.SparseFile("sparse", extents, Step));
        return path;
    }

    static void AssertSparseContent(IReadOnlyFileSystem fs, int extents)
    {
        var e = fs.Lookup("sparse")!;
        Assert.Equal(extents * Step, e.Size);
        var buf = new byte[3];
        foreach (long at in new[] { 0L, Step, (extents / 2) * Step - 1, (extents - 1) * Step })
        {
            int got = fs.Read(e, at, buf);
            for (int i = 0; i < got; i++)
                Assert.True(HostileTars.SparseByte(at + i, extents, Step) == buf[i], $"{fs.Description}: byte {at + i}");
        }
    }

    [Fact]
    public void ExtractIsLinearInExtents()
    {
        Scaling.AssertLinear("extract", N, n =>
        {
            var target = _t[$"x-{n}-{Guid.NewGuid():N}"];
            using (var stack = HostileTars.Open(Tar(n)))
                Extractor.Extract(stack.Merged, target);
            var file = Path.Combine(target, "sparse");
            Assert.Equal(n * Step, new FileInfo(file).Length);
            using var fs = File.OpenRead(file);
            fs.Position = (n - 1) * Step;
            Assert.Equal(HostileTars.SparseByte((n - 1) * Step, n, Step), (byte)fs.ReadByte());
            Directory.Delete(target, true);
        });
    }

    [Fact]
    public void ConvertToErofsIsLinearInExtents()
    {
        Scaling.AssertLinear("convert --format erofs", N, n =>
        {
            // 512-byte blocks: every extent takes a block, so the 200k image stays near 100 MB.
            var output = _t[$"e-{n}.erofs"];
            using (var stack = HostileTars.Open(Tar(n)))
                Converter.Flatten(stack, output, ImageFormat.Erofs, new ImageWriteOptions { BlockSize = 512 });
            using (var image = ErofsImage.Open(output)) AssertSparseContent(image, n);
            File.Delete(output);
        });
    }

    [Fact]
    public void ConvertToZarIsLinearInExtents()
    {
        Scaling.AssertLinear("convert --format zar", N, n =>
        {
            var output = _t[$"z-{n}.zar"];
            using (var stack = HostileTars.Open(Tar(n)))
                Converter.Flatten(stack, output, ImageFormat.Zar);
            using (var image = ZarImage.Open(output)) AssertSparseContent(image, n);
            File.Delete(output);
        });
    }
}
