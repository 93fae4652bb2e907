using System.Text;
using Zar.Model;

namespace Zar.Tests.Hardening;

/// <summary>
/// In-process fuzzing: variants of a valid input (bit flips, bytes set to boundary values, 32/64-bit fields
/// overwritten, truncation), each read under a time limit. A variant may read correctly or fail with a
/// <see cref="ZarException"/>; the format's check decides what else is acceptable. Fixed seed and
/// ZAR_FUZZ_VARIANTS variants (default 10,000); ZAR_FUZZ_SEED and a large ZAR_FUZZ_VARIANTS make the long run.
/// </summary>
public static class Fuzzer
{
    public static int Variants => int.TryParse(Environment.GetEnvironmentVariable("ZAR_FUZZ_VARIANTS"), out var v) ? v : 10_000;
    public static int Seed => int.TryParse(Environment.GetEnvironmentVariable("ZAR_FUZZ_SEED"), out var s) ? s : 20261203;
    static readonly TimeSpan PerVariant = TimeSpan.FromSeconds(20);

    static readonly long[] Interesting = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, long.MaxValue, -1, 4096, 1L << 32, 1L << 62];

    /// <summary>
    /// Mutates <paramref name="original"/> into a variant; returns it and the set of changed offsets
    /// (a truncation changes every offset from the new end). Half of the mutations land in <paramref name="hot"/>
    /// (the metadata), where they are most likely to matter.
    /// </summary>
    public static (byte[] Bytes, SortedSet<long> Changed, string What) Mutate(Random rng, byte[] original, (long Start, long End)? hot)
    {
        var b = (byte[])original.Clone();
        var changed = new SortedSet<long>();
        var what = new StringBuilder();
        long Pick()
        {
            if (hot is var (s, e) && e > s && e <= b.Length && rng.Next(2) == 0) return s + rng.NextInt64(e - s);
            return rng.NextInt64(b.Length);
        }
        int mutations = 1 + rng.Next(3);
        for (int m = 0; m < mutations && b.Length > 0; m++)
        {
            switch (rng.Next(10))
            {
                case < 5:
                {
                    long at = Pick();
                    int bit = rng.Next(8);
                    b[at] ^= (byte)(1 << bit);
                    changed.Add(at);
                    what.Append($" flip {at}.{bit}");
                    break;
                }
                case < 7:
                {
                    long at = Pick();
                    b[at] = (byte)(rng.Next(3) switch { 0 => 0, 1 => 0xFF, _ => rng.Next(256) });
                    if (b[at] != original[at]) changed.Add(at);
                    what.Append($" set {at}={b[at]}");
                    break;
                }
                case < 9:
                {
                    int width = rng.Next(2) == 0 ? 4 : 8;
                    long at = Pick() & ~(long)(width - 1);
                    if (at + width > b.Length) break;
                    long value = Interesting[rng.Next(Interesting.Length)];
                    for (int i = 0; i < width; i++)
                    {
                        b[at + i] = (byte)(value >> (8 * i));
                        if (b[at + i] != original[at + i]) changed.Add(at + i);
                    }
                    what.Append($" u{width * 8} {at}={value}");
                    break;
                }
                default:
                {
                    long length = rng.NextInt64(b.Length);
                    for (long i = length; i < b.Length; i++) changed.Add(i);
                    b = b[..(int)length];
                    what.Append($" truncate {length}");
                    break;
                }
            }
        }
        return (b, changed, what.ToString().Trim());
    }

    /// <summary>
    /// Runs <paramref name="variants"/> variants through <paramref name="check"/>, which reads one and returns null
    /// when the outcome is acceptable or a description of what went wrong. A ZarException is acceptable;
    /// any other exception, a wrong read or a read that does not finish in time fails the test (all listed).
    /// </summary>
    public static void Run(string format, byte[] original, (long, long)? hot, Func<byte[], SortedSet<long>, string?> check, int? variants = null)
    {
        var failures = new List<string>();
        int total = variants ?? Variants, rejected = 0, readOk = 0;
        int current = -1;
        string currentWhat = "";
        // One worker reads the variants; this thread watches that each finishes in time (a hang cannot be
        // interrupted, only reported).
        var worker = new Thread(() =>
        {
            var rng = new Random(Seed);
            for (int i = 0; i < total; i++)
            {
                var (bytes, changed, what) = Mutate(rng, original, hot);
                Volatile.Write(ref currentWhat, what);
                Volatile.Write(ref current, i);
                try
                {
                    if (check(bytes, changed) is { } wrong) lock (failures) failures.Add($"variant {i} ({what}): {wrong}");
                    else readOk++;
                }
                catch (ZarException) { rejected++; }
                catch (Exception e)
                {
                    lock (failures) failures.Add($"variant {i} ({what}): {e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}");
                }
                lock (failures) if (failures.Count >= 10) break;
            }
            Volatile.Write(ref current, total);
        }) { IsBackground = true, Name = "fuzz " + format };
        worker.Start();
        int seen = -1;
        var since = System.Diagnostics.Stopwatch.StartNew();
        while (!worker.Join(50))
        {
            int now = Volatile.Read(ref current);
            if (now != seen) { seen = now; since.Restart(); continue; }
            if (since.Elapsed > PerVariant)
            {
                Assert.Fail($"{format} fuzz (seed {Seed}): variant {now} ({Volatile.Read(ref currentWhat)}) has not finished after {PerVariant.TotalSeconds} s (hang)");
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{format}: seed {Seed}, {total} variants: {readOk} read, {rejected} refused with ZarException");
        Assert.True(failures.Count == 0, $"{format} fuzz (seed {Seed}):\n" + string.Join("\n", failures));
    }

    /// <summary>A tree as text: every entry's metadata and a hash of each file's content (reading every byte).</summary>
    public static string Describe(IReadOnlyFileSystem fs, bool content = true)
    {
        var sb = new StringBuilder();
        foreach (var e in fs.Walk())
        {
            sb.Append(ZarPath.Display(e.Path)).Append(' ').Append(e.Type).Append(' ').Append(Convert.ToString(e.Mode, 8))
                .Append(' ').Append(e.Uid).Append(':').Append(e.Gid).Append(' ').Append(e.Size).Append(' ').Append(e.MtimeSeconds)
                .Append(' ').Append(e.LinkTarget).Append(' ').Append(e.DevMajor).Append(',').Append(e.DevMinor);
            foreach (var x in e.Xattrs) sb.Append(' ').Append(x);
            if (content && e.IsRegular) sb.Append(' ').Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(fs.ReadAllBytes(e)))[..16]);
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
