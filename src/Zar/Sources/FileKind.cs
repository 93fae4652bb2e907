namespace Zar.Sources;

/// <summary>What a path holds, as <see cref="FileSniffer"/> recognises it from its bytes (never from its name).</summary>
public enum FileKind
{
    /// <summary>Nothing at that path.</summary>
    Missing,
    /// <summary>A directory tree.</summary>
    Directory,
    /// <summary>A directory holding an <c>oci-layout</c> file.</summary>
    OciLayoutDirectory,
    /// <summary>A zar image (footer magic at the end).</summary>
    Zar,
    /// <summary>An EROFS image (superblock magic at 1024).</summary>
    Erofs,
    /// <summary>An SQLite database (an flist).</summary>
    Sqlite,
    /// <summary>A gzip stream (a compressed layer).</summary>
    Gzip,
    /// <summary>A zstd stream (a compressed layer).</summary>
    Zstd,
    /// <summary>A bzip2 stream (a layer compression Zar does not read).</summary>
    Bzip2,
    /// <summary>An xz stream (a layer compression Zar does not read).</summary>
    Xz,
    /// <summary>An uncompressed tar: a docker save archive, an OCI archive or one layer (its members tell which).</summary>
    Tar,
    /// <summary>None of the above.</summary>
    Unknown,
}
