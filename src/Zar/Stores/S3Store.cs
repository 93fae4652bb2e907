using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Zar.Stores;

/// <summary>
/// <c>s3://KEY:SECRET@host:port/bucket[?region=NAME]</c> (<c>s3s://</c> for https), as rfs spells it: the port
/// is required, addressing is path-style, each blob is the object named by the id's lowercase hex at the
/// bucket root. Without a secret (the URL an fl records once its password is stripped) requests are
/// unsigned, so consumers need a public-read bucket.
/// </summary>
public sealed class S3Store : IContentStore
{
    readonly StoreUrl _url;
    readonly string _bucket;
    readonly AmazonS3Client _client;

    public S3Store(string url)
    {
        _url = StoreUrl.Parse(url);
        if (_url.Scheme is not ("s3" or "s3s")) throw new ContentStoreException($"{Description}: unknown s3 scheme '{_url.Scheme}' (use s3:// or s3s://)");
        if (_url.Port == null) throw new ContentStoreException($"{Description}: port not found (s3://KEY:SECRET@host:PORT/bucket)");
        _bucket = _url.Path.Trim('/');
        if (_bucket.Length == 0 || _bucket.Contains('/')) throw new ContentStoreException($"{Description}: expected one bucket name as the path");
        var host = _url.Host.Contains(':') ? $"[{_url.Host}]" : _url.Host;
        var config = new AmazonS3Config
        {
            ServiceURL = $"{(_url.Scheme == "s3s" ? "https" : "http")}://{host}:{_url.Port}",
            ForcePathStyle = true,
            AuthenticationRegion = _url.QueryValue("region") is { Length: > 0 } r ? r : "us-east-1",
            // Plain PUTs with a Content-MD5-free body: S3-compatible servers (minio, s3rver, zdb gateways)
            // do not all take the SDK's streamed trailing checksums.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 2,
            Timeout = TimeSpan.FromSeconds(30),
        };
        AWSCredentials creds = string.IsNullOrEmpty(_url.Password)
            ? new AnonymousAWSCredentials()
            : new BasicAWSCredentials(_url.User ?? "", _url.Password);
        _client = new AmazonS3Client(creds, config);
    }

    public string Description => StoreUrl.Redacted(_url.Text);
    public string RouteUrl(bool stripPassword) => stripPassword ? _url.WithoutPassword : _url.Text;
    public bool CanWrite => true;

    public bool Exists(byte[] id) => Run("check for a blob", () =>
    {
        try
        {
            _client.GetObjectMetadataAsync(_bucket, ChunkCodec.Hex(id)).GetAwaiter().GetResult();
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return false; }
    });

    public byte[]? Get(byte[] id) => Run("read a blob", () =>
    {
        try
        {
            using var resp = _client.GetObjectAsync(_bucket, ChunkCodec.Hex(id)).GetAwaiter().GetResult();
            using var ms = new MemoryStream(resp.ContentLength > 0 ? (int)resp.ContentLength : 0);
            resp.ResponseStream.CopyTo(ms);
            return ms.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket") { return (byte[]?)null; }
    });

    public void Put(byte[] id, ReadOnlyMemory<byte> blob) => Run("store a blob", () =>
    {
        using var body = new MemoryStream(blob.ToArray(), writable: false);
        _client.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _bucket, Key = ChunkCodec.Hex(id), InputStream = body, AutoCloseStream = false,
            UseChunkEncoding = false, ContentType = "application/octet-stream",
        }).GetAwaiter().GetResult();
        return true;
    });

    T Run<T>(string what, Func<T> op)
    {
        try { return op(); }
        catch (AmazonServiceException e)
        {
            var inner = StoreRetry.Innermost(e);
            var reason = e is AmazonS3Exception s3 && !string.IsNullOrEmpty(s3.ErrorCode) ? $"{s3.ErrorCode}: {e.Message}" : inner.Message;
            throw new ContentStoreException($"{Description}: cannot {what}: {reason}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or AmazonClientException)
        {
            throw new ContentStoreException($"{Description}: cannot {what}: {StoreRetry.Innermost(e).Message}", e);
        }
    }

    public void Dispose() => _client.Dispose();
}
