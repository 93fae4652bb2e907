using System.Collections.Concurrent;
using Zar.IO;
using Zar.Model;
using Zar.Oci;

namespace Zar.Blobs;

/// <summary>
/// A directory of image files: an OCI layout given as <c>oci:DIR</c>, the registry blob cache, a layout being
/// written. Blobs are put by digest under the layout's blob path and appear under their final name only after
/// their size and digest were checked; <see cref="TryGetVerified"/> re-hashes an entry before this instance first
/// hands it out, so a corrupt or truncated cache entry is deleted and reported as missing, never returned.
/// </summary>
public sealed class DirectoryBlobStore : IBlobStore
{
    // Entries hashed by this instance, keyed by path, with the length and mtime seen then.
    readonly ConcurrentDictionary<string, (long Length, DateTime Modified)> _verified = new();

    public string Root { get; }
    public string Description { get; }

    /// <summary>A store over an existing directory (nothing is created until a blob is put).</summary>
    public DirectoryBlobStore(string root, string? description = null)
    {
        Root = Path.GetFullPath(root);
        Description = description ?? root;
    }

    /// <summary>A store over <paramref name="root"/>, created when missing (a cache, an output layout).</summary>
    public static DirectoryBlobStore Create(string root, string? description = null)
    {
        if (File.Exists(root)) throw new ZarException($"{root}: exists and is not a directory");
        try { Directory.CreateDirectory(root); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ZarException($"{root}: cannot create directory ({e.Message})", e);
        }
        return new DirectoryBlobStore(root, description);
    }

    /// <summary>$ZAR_CACHE, else $XDG_CACHE_HOME/zar, else ~/.cache/zar: where registry blobs are cached.</summary>
    public static string DefaultCacheRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable("ZAR_CACHE");
        if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "zar");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "zar");
    }

    string Full(string path) => Path.Combine(Root, this.SafePath(path));

    public bool Exists(string path) => File.Exists(Full(path));

    public long Length(string path) => Locate(path).Length;

    public Stream Open(string path) => Locate(path).Open($"{Description}: {path}");

    /// <summary>The member's file (the whole file).</summary>
    public FileWindow Locate(string path)
    {
        var full = Full(path);
        var info = new FileInfo(full);
        if (!info.Exists) throw new ZarNotFoundException($"{Description}: {path} is missing");
        return new FileWindow(full, 0, info.Length);
    }

    /// <summary>The file a blob has (or would have) in this store.</summary>
    public string PathFor(string digest) => Full(OciLayout.BlobPath(digest));

    /// <summary>True with the path when an intact copy is stored; a damaged entry is removed.</summary>
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
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            ok = Digest.ComputeLike(digest, f) == digest;
        }
        if (!ok)
        {
            Remove(digest);
            return false;
        }
        _verified[path] = (info.Length, info.LastWriteTimeUtc);
        return true;
    }

    /// <summary>
    /// Stores a blob from a stream, hashing it on the way; it is renamed into place only when size and digest
    /// match, otherwise the temporary file is removed and <see cref="ZarFormatException"/> thrown. Returns its file.
    /// </summary>
    public async Task<string> PutAsync(string digest, long? size, Stream source, Action<long>? progress = null, CancellationToken ct = default)
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

    /// <inheritdoc cref="PutAsync"/>
    public string Put(string digest, long? size, Stream source) => PutAsync(digest, size, source).GetAwaiter().GetResult();

    /// <summary>Stores small content (a manifest, a config) under its sha256 digest unless an intact copy is there.</summary>
    public Descriptor Put(string mediaType, byte[] content)
    {
        var d = new Descriptor(mediaType, Digest.Sha256(content), content.Length);
        if (!TryGetVerified(d.Digest, d.Size, out _)) Put(d.Digest, d.Size, new MemoryStream(content, writable: false));
        return d;
    }

    public void Remove(string digest)
    {
        string path = PathFor(digest);
        _verified.TryRemove(path, out _);
        try { File.Delete(path); } catch (IOException) { }
    }

    public void Dispose() { }
}
