using Zar.IO;
using Zar.Model;
using Zar.Oci;

namespace Zar.Blobs;

/// <summary>
/// Makes a directory store an OCI image layout: blobs go in through <see cref="Store"/> (verified on put), and
/// <see cref="Tag"/> writes <c>oci-layout</c> and names a manifest in <c>index.json</c>. The one writer of
/// layouts: the registry cache (pulled images) and the CFS output both use it.
/// </summary>
public sealed class OciLayoutWriter(DirectoryBlobStore store)
{
    const string LockFile = ".index.lock";
    // index.json is read, changed and replaced: one writer at a time in this process, and a lock file for others.
    static readonly SemaphoreSlim IndexLock = new(1, 1);

    public DirectoryBlobStore Store { get; } = store;

    /// <summary>A writer for the layout at <paramref name="directory"/>, created when missing.</summary>
    public static OciLayoutWriter Create(string directory) => new(DirectoryBlobStore.Create(directory));

    /// <summary>
    /// Names <paramref name="manifest"/> <paramref name="refName"/> in index.json (org.opencontainers.image.ref.name),
    /// replacing an older entry of that name and keeping the others; writes <c>oci-layout</c> when missing.
    /// </summary>
    public void Tag(Descriptor manifest, string refName)
    {
        var root = Store.Root;
        IndexLock.Wait();
        try
        {
            using var fileLock = new FileStream(Path.Combine(root, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            var marker = Path.Combine(root, OciLayout.MarkerFile);
            if (!File.Exists(marker)) Write(marker, OciLayout.MarkerJson());
            var indexPath = Path.Combine(root, OciLayout.IndexFile);
            var index = File.Exists(indexPath)
                ? ImageIndex.Parse(File.ReadAllBytes(indexPath), indexPath)
                : new ImageIndex { MediaType = MediaTypes.OciIndex };
            var annotations = new Dictionary<string, string>(manifest.Annotations ?? new Dictionary<string, string>())
            {
                [Descriptor.RefNameAnnotation] = refName,
            };
            index = index with
            {
                Manifests = [.. index.Manifests.Where(d => d.RefName != refName), manifest with { Annotations = annotations }],
            };
            Write(indexPath, index.ToJson(indented: true));
        }
        finally { IndexLock.Release(); }
    }

    static void Write(string path, byte[] content)
    {
        using var f = new AtomicFile(path);
        f.Stream.Write(content);
        f.Commit();
    }
}
