using Zar.Model;
using Zar.Oci;

namespace Zar.Blobs;

public static class BlobStoreExtensions
{
    /// <summary>A whole small member (a JSON document) in memory.</summary>
    public static byte[] ReadAll(this IBlobStore store, string path, long limit = 64 << 20)
    {
        long len = store.Length(path);
        if (len > limit) throw new ZarFormatException($"{store.Description}: {path} is {len} bytes, too large for a JSON document");
        using var s = store.Open(path);
        var buf = new byte[len];
        s.ReadExactly(buf);
        return buf;
    }

    /// <summary>Normalizes a store-relative path named by a document; refuses ones that leave the store.</summary>
    public static string SafePath(this IBlobStore store, string path)
    {
        if (path.StartsWith('/')) throw new ZarFormatException($"{store.Description}: path {ZarPath.Display(path)} is absolute");
        return ZarPath.Normalize(path) is { Length: > 0 } p ? p : throw new ZarFormatException($"{store.Description}: path {ZarPath.Display(path)} leaves the archive");
    }

    public static bool Contains(this IBlobStore store, string digest) => store.Exists(OciLayout.BlobPath(digest));

    /// <summary>
    /// A small blob (manifest, index, config) named by a descriptor, from the descriptor's embedded data or the
    /// store, checked against it: size before reading, then digest (unverifiable algorithms are refused).
    /// </summary>
    public static byte[] ReadVerified(this IBlobStore store, Descriptor d, string what)
    {
        what = $"{what}: blob {d.Digest}";
        byte[] bytes;
        if (d.Data != null) bytes = d.Data;
        else
        {
            var path = OciLayout.BlobPath(d.Digest);
            if (!store.Exists(path)) throw new ZarNotFoundException($"{what} is not in the layout");
            long length = store.Length(path);
            if (length != d.Size) throw new ZarFormatException($"{what}: {length} bytes, its descriptor says {d.Size}");
            bytes = store.ReadAll(path);
        }
        Digest.Verify(bytes, d.Digest, d.Size, what);
        return bytes;
    }
}
