using System.Collections.Concurrent;
using Zar.IO;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// Content-addressed blob store: `ROOT/blobs/&lt;alg&gt;/&lt;hex&gt;` (the OCI layout's blob path). Files appear
/// under their final name only after their digest was checked, and an entry is re-hashed before it is first used
/// by this instance: a corrupt or truncated entry is deleted and reported as missing, never returned.
/// </summary>
public sealed partial class BlobCache
{
    public string Root { get; }

    // Entries hashed by this instance, keyed by path, with the length and mtime seen then.
    readonly ConcurrentDictionary<string, (long Length, DateTime Modified)> _verified = new();

    public BlobCache(string root)
    {
        Root = Path.GetFullPath(root);
        try { Directory.CreateDirectory(Root); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ZarException($"{root}: cannot create blob cache directory ({e.Message})", e);
        }
    }

    /// <summary>$ZAR_CACHE, else $XDG_CACHE_HOME/zar, else ~/.cache/zar.</summary>
    public static string DefaultRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable("ZAR_CACHE");
        if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "zar");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "zar");
    }

    public string PathFor(string digest)
    {
        Digest.Validate(digest, Root);
        var (alg, hex) = Digest.Split(digest);
        if (hex.Contains('/') || hex.Contains('.') || alg.Contains('/')) throw new ZarFormatException($"{Root}: unusable digest {digest}");
        return Path.Combine(Root, "blobs", alg, hex);
    }

    /// <summary>True with the path when an intact copy is cached; a damaged entry is removed.</summary>
    public bool TryGetVerified(string digest, long? size, out string path)
    {
        path = PathFor(digest);
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        if (_verified.TryGetValue(path, out var seen) && seen.Length == info.Length && seen.Modified == info.LastWriteTimeUtc
            && (size is null || size == info.Length))
            return true;
        bool ok = size is null || info.Length == size;
        if (ok)
        {
            using var hash = Digest.CreateHasher(digest);
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            {
                var buf = new byte[1 << 16];
                int n;
                while ((n = f.Read(buf)) > 0) hash.AppendData(buf, 0, n);
            }
            ok = Digest.Algorithm(digest) + ":" + Convert.ToHexStringLower(hash.GetHashAndReset()) == digest;
        }
        if (!ok)
        {
            _verified.TryRemove(path, out _);
            try { File.Delete(path); } catch (IOException) { }
            return false;
        }
        _verified[path] = (info.Length, info.LastWriteTimeUtc);
        return true;
    }

    /// <summary>
    /// Stores a blob from a stream, hashing it on the way; renamed into place only when size and digest match,
    /// otherwise the temporary file is removed and <see cref="ZarFormatException"/> thrown.
    /// </summary>
    public async Task<string> AddAsync(string digest, long? size, Stream source, Action<long>? progress = null, CancellationToken ct = default)
    {
        string path = PathFor(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var file = new AtomicFile(path);
        await using (var verifying = new DigestVerifyingStream(source, digest, size, $"blob {digest}", leaveOpen: true))
        {
            var buf = new byte[1 << 17];
            long done = 0;
            int n;
            while ((n = await verifying.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
            {
                await file.Stream.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                done += n;
                progress?.Invoke(done);
            }
            if (!verifying.Verified) throw new ZarFormatException($"blob {digest}: not verified");
        }
        file.Commit();
        var info = new FileInfo(path);
        _verified[path] = (info.Length, info.LastWriteTimeUtc);
        return path;
    }

    public void Remove(string digest)
    {
        string path = PathFor(digest);
        _verified.TryRemove(path, out _);
        try { File.Delete(path); } catch (IOException) { }
    }
}
