namespace Zar.IO;

/// <summary>
/// Sees every byte of an output as a writer emits it, in order and exactly once: how a hash of a whole
/// image (a dm-verity tree, a digest) is computed while the image streams out, without reading it back.
/// </summary>
public interface IWriteObserver
{
    /// <summary>The next bytes of the output, immediately after the ones seen before.</summary>
    void Written(ReadOnlySpan<byte> bytes);
}
