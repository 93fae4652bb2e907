using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Zar.Formats.Zar;

namespace Zar.Bench;

/// <summary>
/// `speed [TREE|synthetic]`: every everyday command against the command a user would run instead, on the
/// same input in the same run, as the table of issue 13 (work, Zar, peer, ratio). Each time is the best
/// of three runs with the page cache warm; every Zar time is the `zar` program itself (process start
/// included, our fsync included). A peer that fails is reported and the run goes on.
/// </summary>
static class SpeedBench
{
    const int Runs = 3;
    static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Zar.Cli.dll");

    sealed record Row(string Work, string Zar, string Peer, string Ratio);

    public static void Run(string treeArg, string work)
    {
        Directory.CreateDirectory(work);
        string tree;
        string image;                      // oci:LAYOUT:TAG with gzip layers whose merged tree is `tree`
        if (treeArg == "synthetic")
        {
            tree = Path.Combine(work, "synthetic");
            Console.WriteLine("making the synthetic tree (corpus rootfs when present + 20,000 small files, 100 MiB random, 256 MiB sparse, 64 MiB zero)...");
            MakeSynthetic(tree);
            image = MakeImage(tree, Path.Combine(work, "image-oci"));
        }
        else if (Path.GetFullPath(treeArg) == Path.GetFullPath(Corpus.MergedTree()) && Directory.Exists(Corpus.Layout))
        {
            tree = treeArg;
            image = "oci:" + Corpus.Layout + ":latest";
        }
        else
        {
            tree = treeArg;
            Console.WriteLine("making a gzip OCI image of the tree (layers: groups of its top-level names)...");
            image = MakeImage(tree, Path.Combine(work, "image-oci"));
        }
        Console.WriteLine($"speed: tree {tree}; image {image}; {Environment.ProcessorCount} cores; load {Load()}");
        Run("tar", "-cf", "/dev/null", "-C", tree, "."); // warm the page cache

        var rows = new List<Row>();
        var zarImg = Path.Combine(work, "speed.zar");
        var erofsImg = Path.Combine(work, "speed.erofs");
        var peerImg = Path.Combine(work, "peer.erofs");

        // dir → image, both formats, against mkfs.erofs 1.9.3 (uncompressed, no fsync of its own; with `sync -f` apart).
        var created = Interleaved(
            Job(() => Delete(zarImg), () => Zar("create", tree, "-o", zarImg)),
            Job(() => Delete(erofsImg), () => Zar("create", "--format", "erofs", tree, "-o", erofsImg)),
            Job(() => Delete(peerImg), () => Run("mkfs.erofs", "--quiet", peerImg, tree)),
            Job(() => Delete(peerImg), () => { Run("mkfs.erofs", "--quiet", peerImg, tree); Run("sync", "-f", peerImg); }));
        var (zarCreate, erofsCreate, mkfs, mkfsSync) = (created[0], created[1], created[2], created[3]);
        string mkfsVersion = MkfsVersion();
        rows.Add(Compare("dir → zar image (`zar create`)", zarCreate, $"`mkfs.erofs` {mkfsVersion}", mkfs, mkfsSync));
        rows.Add(Compare("dir → EROFS (`zar create --format erofs`)", erofsCreate, "the same", mkfs, mkfsSync));

        // image → tree, against tar -xpf of a tar of the same tree (made once, not timed).
        var tarFile = Path.Combine(work, "tree.tar");
        var tarMade = Try(() => Run("tar", "-cf", tarFile, "-C", tree, "."));
        var outZar = Path.Combine(work, "out-zar");
        var outTar = Path.Combine(work, "out-tar");
        var extracted = Interleaved(
            Job(() => Rm(outZar), () => Zar("extract", zarImg, outZar)),
            tarMade.Error != null ? new Timed(() => { }, () => tarMade) : Job(() => { Rm(outTar); Directory.CreateDirectory(outTar); }, () => Run("tar", "-xpf", tarFile, "-C", outTar)));
        var (extract, tarX) = (extracted[0], extracted[1]);
        rows.Add(Compare("image → extracted tree (`zar extract IMG DIR`)", extract, "`tar -xpf` of the same tree", tarX, null));
        Rm(outZar); Rm(outTar); Delete(tarFile);

        // gzip image → zar image, against gunzip of its compressed layers on one core.
        var blobs = GzipLayers(image);
        var convertOut = Path.Combine(work, "convert.zar");
        var converted = Interleaved(
            Job(() => { }, () => { foreach (var b in blobs) Run("sh", "-c", "exec gzip -dc \"$1\" > /dev/null", "sh", b); }),
            Job(() => Delete(convertOut), () => Zar("convert", image, "-o", convertOut)));
        var (gunzip, convert) = (converted[0], converted[1]);
        rows.Add(Compare($"gzip image → zar (`zar convert oci:…`), peak anon RSS {Mib(convert.PeakAnon)}", convert,
            $"`gzip -dc` of the {blobs.Count} blobs, one core", gunzip, null));

        // Registry pull + flatten, against skopeo copy + umoci unpack from the same local registry.
        rows.AddRange(RegistryRows(image, work, gunzip, blobs.Count));
        Delete(convertOut);

        Console.WriteLine();
        Console.WriteLine("| work | Zar | peer | ratio |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var r in rows) Console.WriteLine($"| {r.Work} | {r.Zar} | {r.Peer} | {r.Ratio} |");

        LookupRead(zarImg);
        Console.WriteLine($"load after: {Load()}");
        Delete(zarImg); Delete(erofsImg); Delete(peerImg);
    }

    /// <summary>
    /// `speed-memory [GiB]`: peak anonymous RSS of `zar convert` of one big gzip layer (files read as zeros, so it
    /// compresses fast), sampled from /proc; mapped image and page-cache pages do not count.
    /// </summary>
    public static void Memory(int gib, string work)
    {
        Directory.CreateDirectory(work);
        var tree = Path.Combine(work, "big-tree");
        Rm(tree);
        Directory.CreateDirectory(tree);
        for (int i = 0; i < gib * 2; i++)
            using (var f = File.Create(Path.Combine(tree, $"part{i:D2}.bin"))) f.SetLength(512L << 20);
        File.WriteAllText(Path.Combine(tree, "small.txt"), "small\n");
        Console.WriteLine($"making a {gib} GiB single-layer gzip image...");
        var image = MakeImage(tree, Path.Combine(work, "big-oci"), maxLayers: 1);
        Rm(tree);
        var output = Path.Combine(work, "big.zar");
        var r = Zar("convert", image, "-o", output);
        Console.WriteLine(r.Error ?? $"zar convert of a {gib} GiB layer: {r.Seconds:F2} s, peak anonymous RSS {Mib(r.PeakAnon)} (target < 200 MiB)");
        Delete(output);
        Rm(Path.Combine(work, "big-oci"));
    }

    static IEnumerable<Row> RegistryRows(string image, string work, Result gunzip, int blobCount)
    {
        if (!File.Exists("/usr/bin/docker-registry")) { yield return new Row("registry pull + flatten", "-", "peer failed: no /usr/bin/docker-registry", "-"); yield break; }
        using var registry = new Registry(work);
        var reference = $"{registry.Host}/bench/speed:latest";
        var pushed = Try(() => Run("skopeo", "copy", "-q", "--dest-tls-verify=false", image.Replace("oci:", "oci:", StringComparison.Ordinal), "docker://" + reference));
        if (pushed.Error != null) { yield return new Row("registry pull + flatten", "-", "peer failed: " + pushed.Error, "-"); yield break; }
        var cache = Path.Combine(work, "pull-cache");
        var output = Path.Combine(work, "pull.zar");
        var oci = Path.Combine(work, "skopeo-oci");
        var bundle = Path.Combine(work, "umoci-bundle");
        var pulled = Interleaved(
            Job(() => { Rm(cache); Delete(output); }, () => Zar("convert", "docker://" + reference, "--cache", cache, "-o", output)),
            Job(() => { Rm(oci); Rm(bundle); }, () =>
            {
                Run("skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + reference, "oci:" + oci + ":bench");
                Run("umoci", "unpack", "--image", oci + ":bench", bundle);
            }));
        var (zar, peer) = (pulled[0], pulled[1]);
        yield return Compare($"registry pull + flatten (`zar convert docker://… -o x.zar`), peak anon RSS {Mib(zar.PeakAnon)}", zar,
            "`skopeo copy` + `umoci unpack`", peer, null);
        if (zar.Error == null && gunzip.Error == null)
            yield return new Row("  the same against gunzip", $"{zar.Seconds:F2} s", $"`gzip -dc` of the {blobCount} blobs, one core: {gunzip.Seconds:F2} s", $"{zar.Seconds / gunzip.Seconds:F2}×");
        Rm(cache); Rm(oci); Rm(bundle); Delete(output);
    }

    static Row Compare(string work, Result zar, string peerName, Result peer, Result? peerSynced)
    {
        string z = zar.Error != null ? "failed: " + zar.Error : $"{zar.Seconds:F2} s";
        if (peer.Error != null) return new Row(work, z, $"{peerName}: peer failed: {peer.Error}", "-");
        var p = $"{peerName}: {peer.Seconds:F2} s";
        var ratio = zar.Error != null ? "-" : $"{zar.Seconds / peer.Seconds:F2}×";
        if (peerSynced is { Error: null } s)
        {
            p += $" ({s.Seconds:F2} s with `sync -f` of its output)";
            if (zar.Error == null) ratio += $" ({zar.Seconds / s.Seconds:F2}× like for like)";
        }
        return new Row(work, z, p, ratio);
    }

    // ---- timing ---------------------------------------------------------------------------------------------

    sealed record Result(double Seconds, long PeakAnon, string? Error);

    sealed record Timed(Action Setup, Func<Result> Work);
    static Timed Job(Action setup, Func<Result> work) => new(setup, work);
    static Timed Job(Action setup, Action work) => new(setup, () => Try(work));

    /// <summary>
    /// Best of <see cref="Runs"/> for each job, the jobs taking turns (A B A B A B): load that changes during the
    /// run, and the file system's state after each round of deletions, fall on both sides alike.
    /// </summary>
    static Result[] Interleaved(params Timed[] jobs)
    {
        var best = new Result?[jobs.Length];
        for (int run = 0; run < Runs; run++)
            for (int j = 0; j < jobs.Length; j++)
            {
                if (best[j]?.Error != null) continue;
                jobs[j].Setup();
                var r = jobs[j].Work();
                long peak = Math.Max(r.PeakAnon, best[j]?.PeakAnon ?? 0);
                best[j] = r.Error != null ? r : best[j] == null || r.Seconds < best[j]!.Seconds ? r with { PeakAnon = peak } : best[j]! with { PeakAnon = peak };
            }
        return best.Select(b => b!).ToArray();
    }

    static Result Try(Action work)
    {
        var sw = Stopwatch.StartNew();
        try { work(); return new Result(sw.Elapsed.TotalSeconds, 0, null); }
        catch (Exception e) { return new Result(0, 0, OneLine(e.Message)); }
    }

    static Result Zar(params string[] args) => Spawn("dotnet", [Cli, .. args]);

    static void Run(string file, params string[] args)
    {
        var r = Spawn(file, args);
        if (r.Error != null) throw new Exception(r.Error);
    }

    /// <summary>Runs a program to its end; wall time, and its peak anonymous RSS sampled from /proc every 5 ms.</summary>
    static Result Spawn(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        Process p;
        try { p = Process.Start(psi)!; }
        catch (Exception e) { return new Result(0, 0, $"{file}: {OneLine(e.Message)}"); }
        using (p)
        {
            var err = p.StandardError.ReadToEndAsync();
            var outp = p.StandardOutput.ReadToEndAsync();
            long peak = 0;
            var status = $"/proc/{p.Id}/status";
            while (!p.WaitForExit(5)) peak = Math.Max(peak, RssAnon(status));
            p.WaitForExit();
            var seconds = sw.Elapsed.TotalSeconds;
            if (p.ExitCode != 0)
                return new Result(seconds, peak, $"{file} exited {p.ExitCode}: {OneLine(err.Result.Length > 0 ? err.Result : outp.Result)}");
            return new Result(seconds, peak, null);
        }
    }

    static long RssAnon(string status)
    {
        try
        {
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(8).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }

    static string OneLine(string s)
    {
        var line = s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        return line.Length > 200 ? line[..200] + "…" : line;
    }

    static string Mib(long bytes) => $"{bytes / 1048576.0:F0} MiB";
    static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
    static void Delete(string f) { if (File.Exists(f)) File.Delete(f); }
    static void Rm(string d) { if (Directory.Exists(d)) Run("rm", "-rf", d); }

    static string MkfsVersion()
    {
        try
        {
            var psi = new ProcessStartInfo("mkfs.erofs", ["--version"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return text.Split(' ', '\n').FirstOrDefault(w => w.Length > 0 && char.IsDigit(w[0])) ?? "?";
        }
        catch (Exception) { return "(missing)"; }
    }

    // ---- inputs ---------------------------------------------------------------------------------------------

    /// <summary>The issue's tree: the corpus rootfs (when built) plus 20,000 small files, a 100 MiB random file, a 256 MiB sparse file and a 64 MiB zero file.</summary>
    static void MakeSynthetic(string tree)
    {
        Rm(tree);
        Directory.CreateDirectory(tree);
        var rootfs = Corpus.DefaultTree();
        if (rootfs != "/usr") Run("cp", "-a", rootfs + "/.", tree);
        var extra = Path.Combine(tree, "zar-speed");
        var rng = new Random(13);
        var buffer = new byte[8 << 20];
        for (int d = 0; d < 100; d++)
        {
            var dir = Path.Combine(extra, "small", d.ToString("D3", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(dir);
            for (int f = 0; f < 200; f++)
            {
                var data = buffer.AsSpan(0, rng.Next(0, 16384));
                rng.NextBytes(data);
                File.WriteAllBytes(Path.Combine(dir, $"f{f:D3}.bin"), data.ToArray());
            }
        }
        var big = Path.Combine(extra, "big");
        Directory.CreateDirectory(big);
        using (var random = File.Create(Path.Combine(big, "random.bin")))
            for (int i = 0; i < 100 << 20; i += buffer.Length) { rng.NextBytes(buffer); random.Write(buffer); }
        using (var sparse = File.Create(Path.Combine(big, "sparse.bin")))
        {
            // Some data at the start and in the middle, holes around them.
            rng.NextBytes(buffer);
            sparse.Write(buffer.AsSpan(0, 1 << 20));
            sparse.Position = 128 << 20;
            sparse.Write(buffer.AsSpan(0, 1 << 20));
            sparse.SetLength(256L << 20);
        }
        Array.Clear(buffer);
        using (var zero = File.Create(Path.Combine(big, "zero.bin")))
            for (int i = 0; i < 64 << 20; i += buffer.Length) zero.Write(buffer);
    }

    /// <summary>
    /// An OCI layout at <paramref name="layout"/> with up to five gzip layers, each the tar of a group of the tree's
    /// top-level names (so their merge is the tree); returns its oci: spec.
    /// </summary>
    static string MakeImage(string tree, string layout, int maxLayers = 5)
    {
        Rm(layout);
        var blobsDir = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobsDir);
        var names = Directory.EnumerateFileSystemEntries(tree).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        int groups = Math.Min(maxLayers, Math.Max(1, names.Length));
        var layers = new List<(string Digest, long Size, string DiffId)>();
        for (int g = 0; g < groups; g++)
        {
            var group = names.Where((_, i) => i % groups == g).ToArray();
            if (group.Length == 0) continue;
            var psi = new ProcessStartInfo("tar") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-cf", "-", "--numeric-owner", "-C", tree }.Concat(group!)) psi.ArgumentList.Add(a!);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var tmp = Path.Combine(blobsDir, "tmp");
            using var diffHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var file = File.Create(tmp))
            using (var gz = new GZipStream(file, CompressionLevel.Fastest))
            {
                var buf = new byte[1 << 20];
                int n;
                while ((n = p.StandardOutput.BaseStream.Read(buf)) > 0) { diffHash.AppendData(buf, 0, n); gz.Write(buf, 0, n); }
            }
            p.WaitForExit();
            if (p.ExitCode != 0) throw new Exception("tar: " + OneLine(err.Result));
            var digest = Sha256File(tmp);
            File.Move(tmp, Path.Combine(blobsDir, digest), overwrite: true);
            layers.Add((digest, new FileInfo(Path.Combine(blobsDir, digest)).Length, Convert.ToHexStringLower(diffHash.GetHashAndReset())));
        }
        var config = Encoding.UTF8.GetBytes(
            "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" +
            string.Join(',', layers.Select(l => $"\"sha256:{l.DiffId}\"")) + "]}}");
        var configDigest = Put(blobsDir, config);
        var manifest = Encoding.UTF8.GetBytes(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"," +
            $"\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:{configDigest}\",\"size\":{config.Length}}}," +
            "\"layers\":[" + string.Join(',', layers.Select(l =>
                $"{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:{l.Digest}\",\"size\":{l.Size}}}")) + "]}");
        var manifestDigest = Put(blobsDir, manifest);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        File.WriteAllText(Path.Combine(layout, "index.json"),
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[" +
            $"{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:{manifestDigest}\",\"size\":{manifest.Length}," +
            "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}");
        return "oci:" + layout + ":latest";
    }

    static string Put(string blobsDir, byte[] content)
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(Path.Combine(blobsDir, digest), content);
        return digest;
    }

    static string Sha256File(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>The layer blobs of an oci:LAYOUT:TAG image, from its index and manifest.</summary>
    static List<string> GzipLayers(string image)
    {
        var spec = image["oci:".Length..];
        int colon = spec.LastIndexOf(':');
        string layout = spec[..colon], tag = spec[(colon + 1)..];
        string Blob(string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var manifest = index.RootElement.GetProperty("manifests").EnumerateArray().First(m =>
            m.TryGetProperty("annotations", out var a) && a.TryGetProperty("org.opencontainers.image.ref.name", out var n) && n.GetString() == tag);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Blob(manifest.GetProperty("digest").GetString()!)));
        return doc.RootElement.GetProperty("layers").EnumerateArray().Select(l => Blob(l.GetProperty("digest").GetString()!)).ToList();
    }

    // ---- the micro-benchmark --------------------------------------------------------------------------------

    /// <summary>Hot look-up + read of a small file through the library: median of 100,000 (target under 2 µs).</summary>
    static void LookupRead(string zarPath)
    {
        if (!File.Exists(zarPath)) return;
        using var image = ZarImage.Open(zarPath);
        var small = image.Walk().Where(e => e.IsRegular && e.Size > 0 && e.Size <= 4096).Select(e => e.Path).ToArray();
        if (small.Length == 0) return;
        var rng = new Random(42);
        var picks = Enumerable.Range(0, 100_000).Select(_ => small[rng.Next(small.Length)]).ToArray();
        var buffer = new byte[4096];
        long sink = 0;
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1.5)
            foreach (var p in picks.AsSpan(0, 10_000)) { var e = image.Lookup(p)!; sink += image.Read(e, 0, buffer); }
        var ns = new double[picks.Length];
        double tickNs = 1e9 / Stopwatch.Frequency;
        for (int i = 0; i < picks.Length; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            var e = image.Lookup(picks[i])!;
            sink += image.Read(e, 0, buffer);
            ns[i] = (Stopwatch.GetTimestamp() - t0) * tickNs;
        }
        Array.Sort(ns);
        GC.KeepAlive(sink);
        Console.WriteLine();
        Console.WriteLine($"hot look-up + read of a small file (<= 4 KiB, {small.Length} candidates, 100,000 picks) through the library: " +
                          $"median {ns[ns.Length / 2] / 1000:F2} µs, p99 {ns[ns.Length * 99 / 100] / 1000:F2} µs (target: median < 2 µs)");
    }

    /// <summary>A Debian `docker-registry serve` on a free loopback port with its own storage, stopped on dispose.</summary>
    sealed class Registry : IDisposable
    {
        readonly Process _process;
        readonly string _dir;
        public string Host { get; }

        public Registry(string work)
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            Host = $"127.0.0.1:{port}";
            _dir = Path.Combine(work, "registry");
            Directory.CreateDirectory(Path.Combine(_dir, "data"));
            File.WriteAllText(Path.Combine(_dir, "config.yml"), $"""
                version: 0.1
                log:
                  level: warn
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {_dir}/data
                http:
                  addr: {Host}
                """);
            var psi = new ProcessStartInfo("/usr/bin/docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add("serve");
            psi.ArgumentList.Add(Path.Combine(_dir, "config.yml"));
            _process = Process.Start(psi)!;
            _process.OutputDataReceived += (_, _) => { };
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(20))
            {
                if (_process.HasExited) throw new Exception("docker-registry exited");
                try { using var c = new TcpClient(); c.Connect(IPAddress.Loopback, port); return; }
                catch (SocketException) { Thread.Sleep(50); }
            }
            throw new Exception("docker-registry did not start");
        }

        public void Dispose()
        {
            try { if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } } catch (InvalidOperationException) { }
            _process.Dispose();
            Rm(_dir);
        }
    }
}
