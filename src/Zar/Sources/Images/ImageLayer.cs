namespace Zar.Sources.Images;

/// <summary>One layer blob of an image.</summary>
public sealed class ImageLayer
{
    readonly Func<Stream> _open;
    readonly Func<Blobs.FileWindow>? _locate;

    /// <param name="digest">Digest of the blob as stored (compressed), or null when unknown (then nothing to verify it against).</param>
    /// <param name="mediaType">As declared; only a hint, compression is sniffed from the bytes.</param>
    /// <param name="size">Blob size in bytes, -1 when unknown.</param>
    /// <param name="diffId">Digest of the uncompressed tar (config rootfs.diff_ids), or null.</param>
    /// <param name="open">Opens the raw blob; a seekable stream lets uncompressed layers be read at random.</param>
    /// <param name="locate">Where the raw blob is in a local file, when it is (a layout, an archive member, the registry cache).</param>
    public ImageLayer(string? digest, string mediaType, long size, string? diffId, string description, Func<Stream> open,
        Func<Blobs.FileWindow>? locate = null)
    {
        _locate = locate;
        Digest = digest;
        MediaType = mediaType;
        Size = size;
        DiffId = diffId;
        Description = description;
        _open = open;
    }

    public string? Digest { get; }
    public string MediaType { get; }
    public long Size { get; }
    public string? DiffId { get; }
    public string Description { get; }

    /// <summary>The raw blob bytes (compressed as stored). The caller disposes it.</summary>
    public Stream OpenLayer() => _open();

    /// <summary>The raw blob's place in a local file, or null when it has none (a stream only).</summary>
    public Blobs.FileWindow? Locate() => _locate?.Invoke();

    public override string ToString() => $"{Description} {Digest ?? DiffId} ({MediaType}, {Size} bytes)";
}
