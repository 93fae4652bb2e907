using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>One HTTP exchange as the client performs it (re-buildable, so it can be retried and redirected).</summary>
internal sealed record RequestSpec(HttpMethod Method, Uri Uri, string? Scope, string What)
{
    public Action<HttpRequestMessage>? Configure { get; init; }
    public Func<HttpContent>? Content { get; init; }
    public bool Retryable { get; init; } = true;
    /// <summary>False for requests that are not to the registry's API (token server): no registry auth, no 401 handling.</summary>
    public bool RegistryAuth { get; init; } = true;
}

/// <summary>
/// A Distribution API v2 client for one registry host: manifests, blobs (streamed and verified, ranged),
/// pushes, anonymous/Basic/Bearer auth, manual redirects (Authorization never crosses origins) and
/// bounded retries with exponential backoff.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    readonly HttpClient _http;
    readonly RegistryClientOptions _options;
    readonly Lazy<RegistryCredential?> _credential;
    internal readonly RegistryAuthenticator Auth;

    /// <summary>The registry host as written in references (`host[:port]`).</summary>
    public string Host { get; }

    /// <summary>`http://host/` or `https://host/`.</summary>
    public Uri BaseUri { get; }

    /// <summary>Number of token-server requests made (the Bearer flow happened when non-zero).</summary>
    public int TokenRequests => Auth.TokenRequests;

    public RegistryClient(string host, RegistryClientOptions? options = null)
    {
        if (string.IsNullOrWhiteSpace(host)) throw new ZarException("registry host is empty");
        _options = options ?? new RegistryClientOptions();
        Host = host;
        string apiHost = host == RegistryReference.DockerHub ? "registry-1.docker.io" : host;
        bool plain = RegistryReference.IsLoopbackHost(apiHost) || !_options.TlsVerify;
        if (!Uri.TryCreate((plain ? "http://" : "https://") + apiHost + "/", UriKind.Absolute, out var baseUri))
            throw new ZarException($"invalid registry host '{host}'");
        BaseUri = baseUri;
        _credential = new Lazy<RegistryCredential?>(() => _options.Credential
            ?? (_options.UseAuthFiles || _options.AuthFile != null ? RegistryCredentials.Resolve(host, null, _options.AuthFile) : null));

        var sockets = new SocketsHttpHandler
        {
            // Redirects are followed by hand: .NET drops Authorization on every redirect and refuses https->http.
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(30),
            UseCookies = false,
        };
        if (!_options.TlsVerify)
            sockets.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        HttpMessageHandler handler = new TransferGuardHandler(_options.WrapHandler?.Invoke(sockets) ?? sockets, _options);
        // The time limit is applied per request (SendFollowingRedirectsAsync): an upload of a large layer may take longer.
        _http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(_options.UserAgent);
        Auth = new RegistryAuthenticator(this, () => _credential.Value);
    }

    public static RegistryClient For(RegistryReference reference, RegistryClientOptions? options = null) => new(reference.Host, options);

    public void Dispose() => _http.Dispose();

    internal RegistryClientOptions Options => _options;

    internal Uri ApiUri(string pathAndQuery) => new(BaseUri, pathAndQuery);

    internal static string PullScope(string repository) => $"repository:{repository}:pull";
    internal static string PushScope(string repository) => $"repository:{repository}:pull,push";

    /// <summary>GET /v2/: reachability and auth discovery. Throws when the registry is not usable.</summary>
    public Task PingAsync(CancellationToken ct = default) =>
        ExecuteAsync(new RequestSpec(HttpMethod.Get, ApiUri("v2/"), null, $"{Host}: GET /v2/"), async resp =>
        {
            if (!resp.IsSuccessStatusCode) throw await RegistryErrors.FromResponseAsync(resp, $"{Host}: GET /v2/", ct).ConfigureAwait(false);
            return true;
        }, ct);

    // ---------------------------------------------------------------- transport

    static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    static bool IsRedirect(HttpStatusCode s) => s is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RequestSpec spec, CancellationToken ct)
    {
        var uri = spec.Uri;
        var method = spec.Method;
        var content = spec.Content;
        for (int hop = 0; ; hop++)
        {
            var req = new HttpRequestMessage(method, uri);
            spec.Configure?.Invoke(req);
            if (content != null && method != HttpMethod.Get && method != HttpMethod.Head) req.Content = content();
            // Credentials go only to the registry's own origin, never to a CDN or another host a redirect names.
            if (spec.RegistryAuth && SameOrigin(uri, BaseUri)) Auth.Apply(req, spec.Scope);
            else if (!SameOrigin(uri, spec.Uri)) req.Headers.Authorization = null;
            HttpResponseMessage resp;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                // Until the response headers arrive; a streamed upload body is not bounded by it.
                if (req.Content is not StreamContent) timeout.CancelAfter(_options.RequestTimeout);
                resp = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            }
            if (!IsRedirect(resp.StatusCode) || resp.Headers.Location is null) return resp;
            if (hop >= 10) { resp.Dispose(); throw new ZarException($"{spec.What}: too many redirects"); }
            var next = resp.Headers.Location.IsAbsoluteUri ? resp.Headers.Location : new Uri(uri, resp.Headers.Location);
            if (next.Scheme is not ("http" or "https")) { resp.Dispose(); throw new ZarException($"{spec.What}: redirect to unsupported URL scheme {next.Scheme}"); }
            if (resp.StatusCode == HttpStatusCode.SeeOther
                || (resp.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Found && method == HttpMethod.Post))
            {
                method = HttpMethod.Get;
                content = null;
            }
            resp.Dispose();
            uri = next;
        }
    }

    /// <summary>Sends with auth (one re-send after a challenge) and retries 429/5xx/transport failures; returns the final response.</summary>
    internal async Task<HttpResponseMessage> SendAsync(RequestSpec spec, RetryState retry, CancellationToken ct)
    {
        bool challenged = false;
        while (true)
        {
            HttpResponseMessage resp;
            try
            {
                if (spec.RegistryAuth && !challenged) await Auth.EnsureTokenAsync(spec.Scope, ct).ConfigureAwait(false);
                resp = await SendFollowingRedirectsAsync(spec, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (spec.Retryable && IsTransient(e, ct))
            {
                await retry.WaitOrThrowAsync(spec.What, Describe(e), null, e, ct).ConfigureAwait(false);
                continue;
            }
            if (resp.StatusCode == HttpStatusCode.Unauthorized && spec.RegistryAuth && !challenged
                && resp.RequestMessage?.RequestUri is { } u && SameOrigin(u, BaseUri))
            {
                challenged = true;
                bool again;
                try { again = await Auth.HandleChallengeAsync(resp, spec.Scope, ct).ConfigureAwait(false); }
                catch { resp.Dispose(); throw; }
                if (again) { resp.Dispose(); continue; }
            }
            if (spec.Retryable && (resp.StatusCode == HttpStatusCode.TooManyRequests || (int)resp.StatusCode >= 500))
            {
                var after = RetryAfter(resp);
                if (await retry.TryWaitAsync($"{(int)resp.StatusCode} {resp.ReasonPhrase}", after, ct).ConfigureAwait(false))
                {
                    resp.Dispose();
                    continue;
                }
            }
            return resp;
        }
    }

    /// <summary>
    /// Sends and hands the final response to <paramref name="handle"/>; a broken connection while the handler reads
    /// the body sends the whole exchange again (within the retry budget).
    /// </summary>
    internal async Task<T> ExecuteAsync<T>(RequestSpec spec, Func<HttpResponseMessage, Task<T>> handle, CancellationToken ct)
    {
        var retry = new RetryState(_options);
        while (true)
        {
            var resp = await SendAsync(spec, retry, ct).ConfigureAwait(false);
            try
            {
                return await handle(resp).ConfigureAwait(false);
            }
            catch (Exception e) when (spec.Retryable && IsTransient(e, ct))
            {
                resp.Dispose();
                await retry.WaitOrThrowAsync(spec.What, Describe(e), null, e, ct).ConfigureAwait(false);
            }
            finally { resp.Dispose(); }
        }
    }

    internal static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        OperationCanceledException => !ct.IsCancellationRequested, // HttpClient timeout, not the caller's cancellation
        HttpRequestException h => h.StatusCode is null,
        IOException => true,
        SocketException => true,
        _ => false,
    };

    internal static string Describe(Exception e)
    {
        if (e is OperationCanceledException) return "timed out";
        var inner = e;
        while (inner.InnerException != null && inner is HttpRequestException or IOException) inner = inner.InnerException;
        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }

    static TimeSpan? RetryAfter(HttpResponseMessage resp)
    {
        var ra = resp.Headers.RetryAfter;
        if (ra?.Delta is TimeSpan d) return d;
        if (ra?.Date is DateTimeOffset date) { var w = date - DateTimeOffset.UtcNow; return w > TimeSpan.Zero ? w : TimeSpan.Zero; }
        return null;
    }

    internal async Task<RegistryException> ErrorAsync(HttpResponseMessage resp, string what, CancellationToken ct) =>
        await RegistryErrors.FromResponseAsync(resp, what, ct).ConfigureAwait(false);

    /// <summary>Retry budget of one logical request: a count and a wall-clock limit, exponential backoff with jitter.</summary>
    internal sealed class RetryState(RegistryClientOptions options)
    {
        readonly Stopwatch _clock = Stopwatch.StartNew();
        public int Attempts { get; private set; }

        /// <summary>A long transfer that made progress since its last failure starts a fresh budget.</summary>
        public void Reset()
        {
            Attempts = 0;
            _clock.Restart();
        }

        public async Task<bool> TryWaitAsync(string reason, TimeSpan? retryAfter, CancellationToken ct)
        {
            if (Attempts >= options.MaxRetries) return false;
            var backoff = TimeSpan.FromTicks(Math.Min(options.MaxBackoff.Ticks, options.InitialBackoff.Ticks << Math.Min(Attempts, 20)));
            backoff *= 0.8 + Random.Shared.NextDouble() * 0.4;
            var delay = retryAfter is TimeSpan ra && ra > backoff ? ra : backoff;
            if (_clock.Elapsed + delay > options.MaxRetryTime) return false;
            Attempts++;
            LastReason = reason;
            await Task.Delay(delay, ct).ConfigureAwait(false);
            return true;
        }

        public string? LastReason { get; private set; }

        public async Task WaitOrThrowAsync(string what, string reason, TimeSpan? retryAfter, Exception? inner, CancellationToken ct)
        {
            if (!await TryWaitAsync(reason, retryAfter, ct).ConfigureAwait(false))
                throw new ZarException($"{what}: {reason} (gave up after {Attempts + 1} attempts in {_clock.Elapsed.TotalSeconds:0.#} s)", inner);
        }
    }
}
