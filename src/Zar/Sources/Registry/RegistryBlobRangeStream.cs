using Zar.IO;
using System.Net;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>
/// A seekable read-only view of a registry blob served by HTTP Range requests, fetched in blocks of
/// <see cref="BlockSize"/> with the last block kept; for random access into seekable (indexed) layers without
/// downloading them. Ranged bytes cannot be digest-checked: formats read this way must carry their own checks.
/// </summary>
public sealed class RegistryBlobRangeStream : ReadOnlyStream
{
    readonly RegistryClient _client;
    readonly string _repository, _digest;
    readonly long _length;
    long _position;
    long _blockStart = -1;
    byte[] _block = [];

    public int BlockSize { get; }
    public int Requests { get; private set; }

    internal RegistryBlobRangeStream(RegistryClient client, string repository, string digest, long length, int blockSize)
    {
        _client = client;
        _repository = repository;
        _digest = digest;
        _length = length;
        BlockSize = blockSize;
    }

    public override int Read(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length && _position < _length)
        {
            long blockStart = _position / BlockSize * BlockSize;
            if (blockStart != _blockStart)
            {
                int want = (int)Math.Min(BlockSize, _length - blockStart);
                var data = _client.ReadBlobRangeAsync(_repository, _digest, blockStart, want).GetAwaiter().GetResult();
                Requests++;
                if (data.Length != want)
                    throw new ZarFormatException($"docker://{_client.Host}/{_repository}@{_digest}: blob ends at {blockStart + data.Length}, expected {_length} bytes");
                _block = data;
                _blockStart = blockStart;
            }
            int inBlock = (int)(_position - _blockStart);
            int n = Math.Min(buffer.Length - total, _block.Length - inBlock);
            _block.AsSpan(inBlock, n).CopyTo(buffer[total..]);
            total += n;
            _position += n;
        }
        return total;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        if (target < 0) throw new IOException("seek before the start of the blob");
        return _position = target;
    }

    public override bool CanSeek => true;
    public override long Length => _length;
    public override long Position { get => _position; set => Seek(value, SeekOrigin.Begin); }
}

public sealed partial class RegistryClient
{
    /// <summary>A seekable stream over a blob via Range requests (size from <paramref name="size"/> or a HEAD).</summary>
    public async Task<RegistryBlobRangeStream> OpenBlobRandomAccessAsync(string repository, string digest, long? size = null, int blockSize = 1 << 20,
        CancellationToken ct = default)
    {
        long length = size ?? await HeadBlobAsync(repository, digest, ct).ConfigureAwait(false)
            ?? throw new RegistryNotFoundException($"{BlobWhat(Host, repository, digest)}: blob unknown", HttpStatusCode.NotFound, []);
        if (length < 0) throw new ZarFormatException($"{BlobWhat(Host, repository, digest)}: registry did not say how big the blob is");
        return new RegistryBlobRangeStream(this, repository, digest, length, Math.Max(4096, blockSize));
    }
}
