using Zar.Model;

namespace Zar.Stores;

/// <summary>
/// A content-addressed blob store: bytes kept under a hash id (for flists the 32-byte BLAKE2b-256 of the
/// blob). Its shape, Exists/Get/Put by key, is the one an OCI layout's blob store has by digest, so that
/// both can become one interface; here the key is the raw id and the store decides how to spell it
/// (hex file names, raw zdb keys, hex object names). Implementations are thread-safe.
/// </summary>
public interface IContentStore : IDisposable
{
    /// <summary>For messages: the URL without its password.</summary>
    string Description { get; }

    /// <summary>The URL an fl's route table records for this store (rfs's spelling, password stripped unless asked not to).</summary>
    string RouteUrl(bool stripPassword);

    /// <summary>False for read-only stores (http).</summary>
    bool CanWrite { get; }

    bool Exists(byte[] id);

    /// <summary>The blob, or null when the store does not hold it. Failures to reach the store throw <see cref="ContentStoreException"/>.</summary>
    byte[]? Get(byte[] id);

    /// <summary>Stores the blob under its id (overwriting is harmless: same id, same bytes).</summary>
    void Put(byte[] id, ReadOnlyMemory<byte> blob);
}

/// <summary>A store could not be reached or refused an operation; the message names the store.</summary>
public class ContentStoreException(string message, Exception? inner = null) : ZarException(message, inner);

/// <summary>Retries of operations on network stores: bounded in count and time, with backoff.</summary>
public static class StoreRetry
{
    public static int Attempts { get; set; } = 3;
    public static TimeSpan FirstDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Runs <paramref name="op"/>, retrying on transient errors (<paramref name="isTransient"/>); the last failure becomes one line naming the store.</summary>
    public static T Run<T>(string store, string what, Func<T> op, Func<Exception, bool> isTransient)
    {
        var delay = FirstDelay;
        for (int attempt = 1; ; attempt++)
        {
            try { return op(); }
            catch (Exception e) when (e is not ZarException && isTransient(e))
            {
                if (attempt >= Attempts)
                    throw new ContentStoreException($"{store}: {what} failed after {attempt} attempts: {Innermost(e).Message}", e);
                Thread.Sleep(delay);
                delay *= 4;
            }
        }
    }

    public static Exception Innermost(Exception e)
    {
        while (e.InnerException != null && (e is AggregateException || e.Message.Length == 0 || e is System.Net.Http.HttpRequestException)) e = e.InnerException;
        return e;
    }
}
