using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>One `WWW-Authenticate` challenge: scheme plus its parameters (realm, service, scope, error).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public string? this[string key] => Parameters.TryGetValue(key, out var v) ? v : null;

    /// <summary>
    /// Parses every challenge in the header values. Quoted values may hold commas (`scope="repository:a:pull,push"`),
    /// so this tokenizes instead of splitting.
    /// </summary>
    public static IReadOnlyList<AuthChallenge> ParseAll(IEnumerable<string> headerValues)
    {
        var result = new List<AuthChallenge>();
        foreach (var header in headerValues)
        {
            int i = 0;
            string? scheme = null;
            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (i < header.Length)
            {
                while (i < header.Length && (header[i] == ' ' || header[i] == ',')) i++;
                int start = i;
                while (i < header.Length && header[i] != '=' && header[i] != ' ' && header[i] != ',') i++;
                string token = header[start..i];
                if (token.Length == 0) break;
                while (i < header.Length && header[i] == ' ') i++;
                if (i < header.Length && header[i] == '=')
                {
                    i++;
                    while (i < header.Length && header[i] == ' ') i++;
                    var value = new StringBuilder();
                    if (i < header.Length && header[i] == '"')
                    {
                        i++;
                        while (i < header.Length && header[i] != '"')
                        {
                            if (header[i] == '\\' && i + 1 < header.Length) i++;
                            value.Append(header[i++]);
                        }
                        i++;
                    }
                    else
                    {
                        while (i < header.Length && header[i] != ',' && header[i] != ' ') value.Append(header[i++]);
                    }
                    if (scheme != null) parameters[token] = value.ToString();
                }
                else
                {
                    // A bare token after parameters starts the next challenge.
                    if (scheme != null) result.Add(new AuthChallenge(scheme, parameters));
                    scheme = token;
                    parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                }
            }
            if (scheme != null) result.Add(new AuthChallenge(scheme, parameters));
        }
        return result;
    }
}

/// <summary>
/// Authorization for one registry: Basic when the registry asks for it, or Bearer tokens from the challenge's
/// realm, cached per scope set and refreshed on expiry or on a new 401.
/// </summary>
internal sealed class RegistryAuthenticator(RegistryClient client, Func<RegistryCredential?> credential)
{
    sealed record Token(string Value, DateTimeOffset Issued, DateTimeOffset Expires)
    {
        // Renew a little early so a token does not lapse in flight; short-lived tokens get a proportional margin.
        public bool Usable => DateTimeOffset.UtcNow < Expires - TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(5).Ticks, (Expires - Issued).Ticks / 4));
    }

    readonly ConcurrentDictionary<string, Token> _tokens = new();
    readonly SemaphoreSlim _lock = new(1, 1);
    volatile bool _basic;
    volatile AuthChallenge? _bearer;

    /// <summary>Token requests seen, for diagnostics: the realm URLs asked.</summary>
    public int TokenRequests;

    public void Apply(HttpRequestMessage request, string? scope)
    {
        if (_basic)
        {
            var cred = credential();
            if (cred != null) request.Headers.Authorization = new AuthenticationHeaderValue("Basic", cred.BasicHeaderValue);
            return;
        }
        if (_bearer != null && _tokens.TryGetValue(ScopeKey(scope), out var t) && t.Usable)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t.Value);
    }

    /// <summary>
    /// Once the registry is known to want Bearer tokens, gets one for a new or expired scope before sending,
    /// saving the 401 round trip.
    /// </summary>
    public async Task EnsureTokenAsync(string? scope, CancellationToken ct)
    {
        var bearer = _bearer;
        if (_basic || bearer is null || scope is null) return;
        if (_tokens.TryGetValue(ScopeKey(scope), out var t) && t.Usable) return;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(ScopeKey(scope), out t) && t.Usable) return;
            _tokens[ScopeKey(scope)] = await FetchTokenAsync(bearer["realm"]!, bearer["service"], scope.Split(' ', StringSplitOptions.RemoveEmptyEntries), ct)
                .ConfigureAwait(false);
        }
        finally { _lock.Release(); }
    }

    /// <summary>
    /// Handles a 401 from the registry; true when the request should be sent again with new authorization.
    /// </summary>
    public async Task<bool> HandleChallengeAsync(HttpResponseMessage response, string? scope, CancellationToken ct)
    {
        var challenges = AuthChallenge.ParseAll(response.Headers.TryGetValues("WWW-Authenticate", out var v) ? v : []);
        // Parallel requests meet the same challenge; one that went out before another's fix is simply re-sent.
        var sent = response.RequestMessage?.Headers.Authorization;
        var bearer = challenges.FirstOrDefault(c => c.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase));
        if (bearer != null && bearer["realm"] is { Length: > 0 })
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                _bearer = bearer;
                if (_tokens.TryGetValue(ScopeKey(scope), out var current) && current.Usable && bearer["error"] is null or "invalid_token"
                    && !(sent?.Scheme == "Bearer" && sent.Parameter == current.Value))
                    return true;
                var scopes = new List<string>();
                foreach (var s in (bearer["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(
                             (scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)))
                    if (!scopes.Contains(s)) scopes.Add(s);
                var token = await FetchTokenAsync(bearer["realm"]!, bearer["service"], scopes, ct).ConfigureAwait(false);
                _tokens[ScopeKey(scope)] = token;
                return true;
            }
            finally { _lock.Release(); }
        }
        if (challenges.Any(c => c.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase)))
        {
            if (credential() == null || sent?.Scheme == "Basic") return false;
            _basic = true;
            return true;
        }
        return false;
    }

    static string ScopeKey(string? scope) => scope ?? "";

    async Task<Token> FetchTokenAsync(string realm, string? service, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        if (!Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) || realmUri.Scheme is not ("http" or "https"))
            throw new ZarException($"{client.Host}: bad token realm '{realm}' in the registry's challenge");
        // Credentials go to the token server: never in clear text when the registry itself is reached over TLS.
        if (client.BaseUri.Scheme == Uri.UriSchemeHttps && realmUri.Scheme == Uri.UriSchemeHttp)
            throw new ZarException($"{client.Host}: token realm {realmUri.GetLeftPart(UriPartial.Path)} is plain http for an https registry: refused");
        var query = new StringBuilder(realmUri.Query.Length > 1 ? realmUri.Query[1..] : "");
        void Add(string k, string val) { if (query.Length > 0) query.Append('&'); query.Append(k).Append('=').Append(Uri.EscapeDataString(val)); }
        if (!string.IsNullOrEmpty(service)) Add("service", service);
        foreach (var s in scopes) Add("scope", s);
        var uri = new UriBuilder(realmUri) { Query = query.ToString() }.Uri;
        Interlocked.Increment(ref TokenRequests);
        var cred = credential();
        var spec = new RequestSpec(HttpMethod.Get, uri, null, "token request to " + realmUri.GetLeftPart(UriPartial.Path))
        {
            Configure = req =>
            {
                if (cred != null) req.Headers.Authorization = new AuthenticationHeaderValue("Basic", cred.BasicHeaderValue);
            },
            RegistryAuth = false,
        };
        return await client.ExecuteAsync(spec, async resp =>
        {
            if (resp.StatusCode != HttpStatusCode.OK)
                throw await RegistryErrors.FromResponseAsync(resp, $"{client.Host}: token server {realmUri.GetLeftPart(UriPartial.Path)}", ct).ConfigureAwait(false);
            var body = await RegistryErrors.ReadUpToAsync(resp.Content, 1 << 20, ct).ConfigureAwait(false);
            try
            {
                using var doc = JsonDocument.Parse(body);
                var root = doc.RootElement;
                string? tok = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                if (string.IsNullOrEmpty(tok))
                    tok = root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
                if (string.IsNullOrEmpty(tok)) throw new ZarFormatException($"{client.Host}: token server answer has no token");
                int expiresIn = root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var ei) && ei > 0 ? ei : 60;
                var issued = root.TryGetProperty("issued_at", out var ia) && ia.ValueKind == JsonValueKind.String
                    && DateTimeOffset.TryParse(ia.GetString(), out var iat) && iat <= DateTimeOffset.UtcNow ? iat : DateTimeOffset.UtcNow;
                return new Token(tok, issued, issued.AddSeconds(expiresIn));
            }
            catch (JsonException ex)
            {
                throw new ZarFormatException($"{client.Host}: token server answer is not JSON ({ex.Message})", ex);
            }
        }, ct).ConfigureAwait(false);
    }
}
