using System.Diagnostics;
using Zar.Model;
using Zar.Sources.Tar;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Tar;

/// <summary>Truncated and corrupted archives end in a ZarFormatException or a correct read: no other exception, no hang.</summary>
public sealed class TarRobustnessTests : IDisposable
{
    readonly TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    /// <summary>Small archives exercising every parser path: PAX with xattrs and long names, PAX 1.0 sparse, old GNU sparse with extension blocks, L/K.</summary>
    byte[] MakeArchive(string format, string? sparseVersion)
    {
        Tools.Require("tar");
        var src = _tmp[$"src-{format}-{sparseVersion}"];
        Directory.CreateDirectory(src);
        var script = """
            set -e
            printf 'a' > small
            head -c 1500 /dev/zero | tr '\0' 'q' > medium
            D=$(printf 'd%.0s' $(seq 1 120))
            mkdir -p "$D/sub"
            printf 'deep' > "$D/sub/$(printf 'n%.0s' $(seq 1 150))"
            ln -s "$D/sub" longlink
            ln small hard
            mkfifo fifo
            truncate -s 300K sparse
            for i in $(seq 0 29); do printf 'x%d' $i | dd of=sparse bs=1 seek=$((i*10240)) conv=notrunc status=none; done
            """;
        if (format == "posix") script += "\nsetfattr -n user.v -v 0x00ff0a sparse 2>/dev/null || true\n";
        var r = Tools.Run("/bin/bash", ["-c", script], cwd: src);
        Assert.True(r.Code == 0, r.Err);
        var tar = _tmp[$"{format}-{sparseVersion}.tar"];
        var args = new List<string> { $"--format={format}", "-S", "--xattrs", "-cf", tar, "-C", src, "." };
        if (sparseVersion != null) args.Insert(0, $"--sparse-version={sparseVersion}");
        r = Tools.Run("tar", args);
        Assert.True(r.Code == 0, r.Err);
        return File.ReadAllBytes(tar);
    }

    static List<ReadEntry> ReadBytes(byte[] tar, bool seekable)
    {
        using var reader = new TarReader(seekable ? new MemoryStream(tar) : new NonSeekableStream(new MemoryStream(tar)), "fuzz.tar");
        return TarTestSupport.ReadAll(reader);
    }

    /// <summary>Returns the entries, or null after a ZarFormatException (any other exception fails the test).</summary>
    static List<ReadEntry>? TryRead(byte[] tar, bool seekable, string what)
    {
        try { return ReadBytes(tar, seekable); }
        catch (ZarFormatException ex)
        {
            Assert.StartsWith("fuzz.tar: ", ex.Message);
            Assert.DoesNotContain('\n', ex.Message);
            return null;
        }
        catch (Exception ex)
        {
            Assert.Fail($"{what}: {ex.GetType().Name} instead of ZarFormatException: {ex.Message}");
            return null;
        }
    }

    [Theory]
    [InlineData("posix", "1.0")]
    [InlineData("posix", "0.1")]
    [InlineData("gnu", null)]
    [InlineData("oldgnu", null)]
    public void TruncationAtManyOffsets(string format, string? sparseVersion)
    {
        var tar = MakeArchive(format, sparseVersion);
        var full = ReadBytes(tar, true);
        Assert.Contains(full, e => e.Entry.IsSparse && e.Extents!.Count == 30);
        long end = full.Max(e => e.DataOffset + e.Tar.StoredSize);
        // A single zero block already ends the archive (as GNU tar), so losing part of the second one is no error.
        long markerStart = (end + 511) / 512 * 512;
        var sw = Stopwatch.StartNew();
        int cuts = 0;
        for (long blockStart = 0; blockStart < end + 1024; blockStart += 512)
            foreach (int delta in new[] { 0, 1, 157, 511 })
            {
                int cut = (int)(blockStart + delta);
                if (cut >= tar.Length) continue;
                cuts++;
                var got = TryRead(tar[..cut], seekable: cuts % 2 == 0, $"cut at {cut}");
                if (got == null) continue;
                // No error: the cut fell on a header boundary and what was read is exactly the archive's prefix.
                Assert.True(delta == 0 || cut > markerStart + 512, $"cut at {cut} (inside a block) was read without an error");
                Assert.True(got.Count <= full.Count);
                for (int i = 0; i < got.Count; i++)
                {
                    Assert.Equal(full[i].Entry.Path, got[i].Entry.Path);
                    Assert.Equal(full[i].Data, got[i].Data);
                }
            }
        Assert.True(cuts > 100, $"only {cuts} cuts");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"truncation runs took {sw.Elapsed}");
    }

    [Theory]
    [InlineData("posix", "1.0", 1)]
    [InlineData("posix", "0.0", 2)]
    [InlineData("gnu", null, 3)]
    [InlineData("oldgnu", null, 4)]
    public void RandomByteFlipsNeverCrashOrHang(string format, string? sparseVersion, int seed)
    {
        var tar = MakeArchive(format, sparseVersion);
        var full = ReadBytes(tar, true);
        // Most flips should land in metadata: header blocks, extension blocks, PAX data, sparse maps.
        var metadata = new List<(long Start, long End)>();
        foreach (var e in full) metadata.Add((e.Tar.HeaderOffset, e.DataOffset));
        long end = full.Max(e => e.DataOffset + e.Tar.StoredSize);
        var rnd = new Random(seed);
        var sw = Stopwatch.StartNew();
        int errors = 0, reads = 0;
        for (int iter = 0; iter < 1500; iter++)
        {
            var copy = (byte[])tar.Clone();
            int flips = rnd.Next(1, 4);
            for (int f = 0; f < flips; f++)
            {
                long pos;
                if (rnd.Next(4) != 0)
                {
                    var (s, e) = metadata[rnd.Next(metadata.Count)];
                    pos = s + rnd.NextInt64(e - s);
                }
                else pos = rnd.NextInt64(end);
                copy[pos] = rnd.Next(3) switch { 0 => (byte)(copy[pos] ^ (1 << rnd.Next(8))), 1 => (byte)rnd.Next(256), _ => (byte)"0123456789 \0x/-."[rnd.Next(16)] };
            }
            // Each read under its own time limit: a hang fails here, naming the variant, instead of blocking the run.
            bool seekable = iter % 2 == 0;
            string what = $"seed {seed} iteration {iter}";
            var read = Task.Run(() => TryRead(copy, seekable, what));
            Assert.True(read.Wait(TimeSpan.FromSeconds(20)), $"{what}: no result after 20 s (hang)");
            if (read.Result == null) errors++; else reads++;
        }
        Assert.True(errors > 100, $"only {errors} of 1500 corruptions were detected");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"fuzzing took {sw.Elapsed}");
    }

    [Theory]
    [InlineData("posix", "1.0")]
    [InlineData("oldgnu", null)]
    public void ShortReadsGiveTheSameEntries(string format, string? sparseVersion)
    {
        var tar = MakeArchive(format, sparseVersion);
        var full = ReadBytes(tar, true);
        using var reader = new TarReader(new TrickleStream(tar, 7), "trickle.tar");
        var trickled = TarTestSupport.ReadAll(reader);
        Assert.Equal(full.Select(e => e.Entry.Path), trickled.Select(e => e.Entry.Path));
        for (int i = 0; i < full.Count; i++)
        {
            Assert.Equal(full[i].Data, trickled[i].Data);
            Assert.Equal(full[i].DataOffset, trickled[i].DataOffset);
            Assert.Equal(full[i].Extents, trickled[i].Extents);
        }
    }

    /// <summary>Returns at most a few bytes per read, like a slow pipe.</summary>
    sealed class TrickleStream(byte[] data, int max) : Stream
    {
        int _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, max), data.Length - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void RandomGarbageIsRejected()
    {
        var rnd = new Random(99);
        for (int i = 0; i < 200; i++)
        {
            var junk = new byte[rnd.Next(1, 5000)];
            rnd.NextBytes(junk);
            Assert.Null(TryRead(junk, i % 2 == 0, $"garbage {i}"));
        }
    }
}
