using Zar.Formats.LayerIndex;
using Zar.Model;
using Zar.Sources.Lazy;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Lazy;

/// <summary>A compressed blob wrapper for tests: counts what is read, and can flip bytes (a lying server).</summary>
public sealed class ProbeBlob(IBlob inner) : IBlob, IDisposable
{
    long _bytes, _reads;
    public string Description => inner.Description;
    public long Length => inner.Length;
    public long BytesRead => Interlocked.Read(ref _bytes);
    public long Reads => Interlocked.Read(ref _reads);
    /// <summary>Blob offset whose byte is returned flipped (-1: none).</summary>
    public long CorruptAt { get; set; } = -1;

    public int ReadAt(long offset, Span<byte> destination)
    {
        int n = inner.ReadAt(offset, destination);
        Interlocked.Add(ref _bytes, n);
        Interlocked.Increment(ref _reads);
        if (CorruptAt >= offset && CorruptAt < offset + n) destination[(int)(CorruptAt - offset)] ^= 0x5A;
        return n;
    }

    public void Dispose() => (inner as IDisposable)?.Dispose();
}

public static class LazySupport
{
    /// <summary>A tree worth indexing: random (incompressible) and text-like (compressible) files of several sizes,
    /// long names, a hardlink, a symlink, an empty file.</summary>
    public static void CreateTree(string dir, int seed = 1)
    {
        var rnd = new Random(seed);
        Directory.CreateDirectory(Path.Combine(dir, "etc"));
        File.WriteAllText(Path.Combine(dir, "etc", "os-release"), "PRETTY_NAME=\"Zar Test\"\nID=zar\n");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        foreach (var (name, size, text) in new[] { ("big-random", 3_000_000, false), ("big-text", 5_000_000, true), ("mid", 300_000, true), ("small", 700, false) })
        {
            var data = new byte[size];
            if (text)
            {
                var words = new[] { "alpha ", "beta ", "gamma\n", "delta ", "zar ", "layer\n" };
                int at = 0;
                while (at < size) { var w = words[rnd.Next(words.Length)]; for (int i = 0; i < w.Length && at < size; i++) data[at++] = (byte)w[i]; }
            }
            else rnd.NextBytes(data);
            File.WriteAllBytes(Path.Combine(dir, "bin", name), data);
        }
        for (int i = 0; i < 40; i++)
        {
            var data = new byte[rnd.Next(0, 20_000)];
            rnd.NextBytes(data.AsSpan(0, data.Length / 2));
            File.WriteAllBytes(Path.Combine(dir, "etc", $"conf{i:D2}"), data);
        }
        var longDir = Path.Combine(dir, "usr", new string('d', 120), new string('e', 100));
        Directory.CreateDirectory(longDir);
        File.WriteAllText(Path.Combine(longDir, new string('f', 150)), "long name\n");
        File.WriteAllBytes(Path.Combine(dir, "empty"), []);
        File.CreateSymbolicLink(Path.Combine(dir, "etc", "link"), "os-release");
        Tools.Sh($"ln '{Path.Combine(dir, "bin", "mid")}' '{Path.Combine(dir, "bin", "mid-hardlink")}'");
    }

    /// <summary>Every regular file of <paramref name="fs"/> equals the file GNU tar extracted into <paramref name="extracted"/>,
    /// every extracted file is in <paramref name="fs"/>, and random ranges of the largest files equal too.</summary>
    public static int AssertEqualsExtraction(IReadOnlyFileSystem fs, string extracted, int seed = 5)
    {
        var regular = fs.Walk().Where(e => e.IsRegular).ToList();
        // find, not .NET's enumeration: that one follows symlinked directories.
        var onDisk = Tools.Sh($"cd '{extracted}' && find . -type f -printf '%P\\n'").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(f => !Path.GetFileName(f).StartsWith(".wh.")).ToHashSet(); // a lone layer's whiteouts hide nothing: the merged view drops them
        Assert.Equal(onDisk.OrderBy(p => p, StringComparer.Ordinal), regular.Select(e => e.Path).OrderBy(p => p, StringComparer.Ordinal));
        foreach (var e in regular)
        {
            var expected = File.ReadAllBytes(Path.Combine(extracted, e.Path));
            var actual = new byte[e.Size];
            Assert.Equal(e.Size, fs.ReadFully(e, 0, actual));
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{e.Path} differs");
        }
        var rnd = new Random(seed);
        foreach (var e in regular.OrderByDescending(e => e.Size).Take(3))
        {
            var expected = File.ReadAllBytes(Path.Combine(extracted, e.Path));
            for (int k = 0; k < 20 && e.Size > 0; k++)
            {
                long offset = rnd.NextInt64(e.Size);
                int length = (int)Math.Min(rnd.Next(1, 200_000), e.Size - offset);
                var buf = new byte[length];
                Assert.Equal(length, fs.ReadFully(e, offset, buf));
                Assert.True(expected.AsSpan((int)offset, length).SequenceEqual(buf), $"{e.Path} [{offset}, +{length}) differs");
            }
        }
        return regular.Count;
    }

    /// <summary>Read-ahead off by default: tests that count bytes must not see background fetches.</summary>
    public static LazyImage OpenLayer(string path, LayerIndex index, SpanCache cache, out ProbeBlob probe, bool readAhead = false)
    {
        probe = new ProbeBlob(new Zar.Blobs.FileBlob(path));
        return LazyImage.Open([new LazyLayer(index, probe)], path, cache, readAhead: readAhead);
    }
}
