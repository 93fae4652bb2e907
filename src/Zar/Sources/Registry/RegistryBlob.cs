using System.Net;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// A registry blob as a positional blob: every read is one HTTP Range request (thread-safe, no shared position),
/// for random access into a layer that was never pulled. Ranged bytes cannot be digest-checked on their own:
/// readers of such a blob check what they can (an index's checksums, a whole span against its digest).
/// </summary>
public sealed class RegistryBlob : IBlob
{
    readonly RegistryClient _client;
    readonly string _repository, _digest;

    internal RegistryBlob(RegistryClient client, string repository, string digest, long length)
    {
        _client = client;
        _repository = repository;
        _digest = digest;
        Length = length;
    }

    public string Description => $"docker://{_client.Host}/{_repository}@{_digest}";
    public long Length { get; }

    public int ReadAt(long offset, Span<byte> destination)
    {
        if (offset < 0) throw new ArgumentOutOfRangeException(nameof(offset));
        if (offset >= Length || destination.IsEmpty) return 0;
        int want = (int)Math.Min(destination.Length, Length - offset);
        var data = _client.ReadBlobRangeAsync(_repository, _digest, offset, want).GetAwaiter().GetResult();
        if (data.Length != want)
            throw new ZarFormatException($"{Description}: blob ends at {offset + data.Length}, expected {Length} bytes");
        data.CopyTo(destination);
        return want;
    }
}

public sealed partial class RegistryClient
{
    /// <summary>A blob read by Range requests (its size from <paramref name="size"/> or a HEAD).</summary>
    public async Task<RegistryBlob> OpenRandomAccessBlobAsync(string repository, string digest, long? size = null, CancellationToken ct = default)
    {
        long length = size ?? await HeadBlobAsync(repository, digest, ct).ConfigureAwait(false)
            ?? throw new RegistryNotFoundException($"{BlobWhat(Host, repository, digest)}: blob unknown", HttpStatusCode.NotFound, []);
        if (length < 0) throw new ZarFormatException($"{BlobWhat(Host, repository, digest)}: registry did not say how big the blob is");
        return new RegistryBlob(this, repository, digest, length);
    }
}
