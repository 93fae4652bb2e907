namespace Zar.Sources;

/// <summary>What a user's spec names (see <see cref="SourceSpec"/>).</summary>
public enum SourceKind
{
    /// <summary><c>dir:PATH</c> or a plain directory: a host directory tree.</summary>
    Directory,
    /// <summary><c>oci:DIR[:REF]</c> or a directory with an <c>oci-layout</c> file.</summary>
    OciLayout,
    /// <summary><c>oci-archive:PATH[:REF]</c>: an OCI layout in an uncompressed tar.</summary>
    OciArchive,
    /// <summary><c>docker-archive:PATH[:NAME:TAG|:@N]</c>: <c>docker save</c> output.</summary>
    DockerArchive,
    /// <summary><c>tar:PATH</c> or a gzip/zstd file: one layer tar, any compression.</summary>
    LayerTar,
    /// <summary>An uncompressed tar given as a bare path: a docker save archive, an OCI archive or one layer, told apart by its members.</summary>
    Tar,
    /// <summary><c>docker://HOST/REPO[:TAG|@DIGEST]</c>: an image in a registry.</summary>
    Registry,
    /// <summary>A zar image file.</summary>
    Zar,
    /// <summary>An EROFS image file.</summary>
    Erofs,
    /// <summary>An flist (an SQLite file).</summary>
    Flist,
    /// <summary><c>stack:A,B,C</c> (images, bottom first) or <c>stack:DIR</c>: images stacked with overlay rules.</summary>
    Stack,
    /// <summary>A transport the caller supplied in <see cref="OpenOptions.Transports"/>.</summary>
    Transport,
}
