namespace Zar.Blobs;

/// <summary>
/// Where the files of an image live, by store-relative path (<c>index.json</c>, <c>manifest.json</c>,
/// <c>blobs/sha256/&lt;hex&gt;</c>, <c>&lt;id&gt;/layer.tar</c>): a directory (an OCI layout, the registry
/// blob cache) or an uncompressed tar read in place (docker save output, an OCI archive). Content-addressed
/// access goes through <see cref="Oci.OciLayout.BlobPath"/>. Safe to use from several threads: every
/// <see cref="Open"/> returns an independent stream.
/// </summary>
public interface IBlobStore : IDisposable
{
    /// <summary>For messages: "oci:/srv/img", "docker-archive:x.tar".</summary>
    string Description { get; }

    bool Exists(string path);

    /// <summary>Size in bytes; throws ZarNotFoundException when missing.</summary>
    long Length(string path);

    /// <summary>Opens a member for reading; the stream can seek. Throws ZarNotFoundException when missing.</summary>
    Stream Open(string path);

    /// <summary>Where a member's bytes are in a local file (to read it at random as a <see cref="FileBlob"/>).
    /// Throws ZarNotFoundException when missing.</summary>
    FileWindow Locate(string path);
}
