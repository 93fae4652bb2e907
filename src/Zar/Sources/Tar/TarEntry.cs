using Zar.Model;

namespace Zar.Sources.Tar;

/// <summary>One member of a tar stream as <see cref="TarReader"/> saw it: the normalized entry plus the raw facts
/// (names before normalization, offsets) that indexers and layer appliers need.</summary>
public sealed class TarEntry
{
    /// <summary>Path = <see cref="ZarPath.NormalizeClamped"/>(RawName); LinkTarget is the verbatim symlink target or the
    /// clamped path of a hardlink's target; Size is the logical size (sparse: the real size); sparse entries are IsSparse.</summary>
    public required Entry Entry { get; init; }

    /// <summary>Offset of the stored bytes in the uncompressed tar (after a PAX 1.0 sparse map).</summary>
    public long DataOffset { get; init; }

    /// <summary>Sparse members: the data extents in logical order, stored back to back from <see cref="DataOffset"/>;
    /// null for every other member (its data is the whole file).</summary>
    public IReadOnlyList<DataExtent>? Extents { get; init; }

    /// <summary>Where the member's bytes are in <paramref name="tar"/>, a blob of the uncompressed tar.</summary>
    public FileData DataIn(IBlob tar) => FileData.Packed(Entry.Size, Extents, tar, DataOffset);

    /// <summary>The name as stored, after PAX <c>path</c>, GNU long name or <c>GNU.sparse.name</c>; not normalized.</summary>
    public required string RawName { get; init; }

    public string? RawLinkName { get; init; }

    /// <summary>RawName (or a hardlink's target) climbs above the root with "..".</summary>
    public bool Escapes { get; init; }

    /// <summary>Offset of the first header block of this entry, including its x/L/K/g prefix headers.</summary>
    public long HeaderOffset { get; init; }

    /// <summary>Bytes of file data in the archive (the packed fragments for sparse files, without a PAX 1.0 map).</summary>
    public long StoredSize { get; init; }

    /// <summary>Effective PAX records (global, then local overriding), values decoded losslessly like names.</summary>
    public IReadOnlyDictionary<string, string> PaxRecords { get; init; } = TarReader.NoRecords;

    public override string ToString() => $"{Entry} @{HeaderOffset}";
}
