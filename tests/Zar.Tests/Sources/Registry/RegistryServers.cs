using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Zar.Tests.Support;

namespace Zar.Tests.Sources.Registry;

/// <summary>A Debian `docker-registry serve` process on 127.0.0.1 with its own config and storage; killed on dispose.</summary>
public sealed class RegistryServer : IDisposable
{
    public int Port { get; }
    public string Host => $"127.0.0.1:{Port}";
    public string StorageRoot { get; }
    readonly TempDir _dir = new();
    readonly Process _process;
    readonly StringBuilder _log = new();

    public RegistryServer(string? authYaml = null)
    {
        Port = FreePort();
        StorageRoot = _dir["storage"];
        Directory.CreateDirectory(StorageRoot);
        var config = $"""
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {StorageRoot}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}
            {(authYaml ?? "")}
            """;
        File.WriteAllText(_dir["config.yml"], config);
        var psi = new ProcessStartInfo("/usr/bin/docker-registry") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add("serve");
        psi.ArgumentList.Add(_dir["config.yml"]);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        WaitReady();
    }

    /// <summary>Writes a file in the registry's temp dir (htpasswd and such).</summary>
    public static string WriteSide(TempDir dir, string name, string content)
    {
        File.WriteAllText(dir[name], content);
        return dir[name];
    }

    void WaitReady()
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (_process.HasExited) throw new Exception($"docker-registry exited: {Log}");
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new Exception($"docker-registry did not start on {Port}: {Log}");
    }

    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>The file the registry keeps a blob's bytes in.</summary>
    public string BlobDataPath(string digest)
    {
        var hex = digest["sha256:".Length..];
        return Path.Combine(StorageRoot, "docker/registry/v2/blobs/sha256", hex[..2], hex, "data");
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } } catch { }
        _process.Dispose();
        _dir.Dispose();
    }
}

/// <summary>
/// A minimal Bearer token endpoint on 127.0.0.1: checks HTTP Basic credentials and answers {"token": ...};
/// records every request so tests can assert the client went through the token flow with the right scopes.
/// </summary>
public sealed class TokenServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly string _user, _password;
    int _issued;
    public int Port { get; }
    public string Realm => $"http://127.0.0.1:{Port}/token";
    public ConcurrentQueue<(string Query, string? Authorization)> Requests { get; } = new();
    public int ExpiresIn { get; set; } = 300;
    readonly JwtIssuer? _jwt;

    public TokenServer(string user, string password, JwtIssuer? jwt = null)
    {
        _user = user;
        _password = password;
        _jwt = jwt;
        for (int attempt = 0; ; attempt++)
        {
            Port = RegistryServer.FreePort();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/token/");
            try { _listener.Start(); break; }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _ = Task.Run(Loop);
    }

    async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch { return; }
            var auth = ctx.Request.Headers["Authorization"];
            Requests.Enqueue((ctx.Request.Url!.Query, auth));
            string expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(_user + ":" + _password));
            if (auth != expected)
            {
                ctx.Response.StatusCode = 401;
                ctx.Response.Close();
                continue;
            }
            int serial = Interlocked.Increment(ref _issued);
            var scopes = (ctx.Request.QueryString.GetValues("scope") ?? []).SelectMany(v => v.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            string token = _jwt?.Issue(_user, scopes, ExpiresIn) ?? $"tok-{serial}";
            // The plain endpoint answers with the OAuth-style `access_token` only, so the client's fallback field is exercised.
            var body = Encoding.UTF8.GetBytes(_jwt != null
                ? $"{{\"token\":\"{token}\",\"expires_in\":{ExpiresIn},\"issued_at\":\"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\"}}"
                : $"{{\"access_token\":\"{token}\",\"expires_in\":{ExpiresIn}}}");
            ctx.Response.ContentType = "application/json";
            ctx.Response.ContentLength64 = body.Length;
            ctx.Response.OutputStream.Write(body);
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        try { _listener.Stop(); _listener.Close(); } catch { }
    }
}

/// <summary>
/// Signs registry tokens the way distribution's token auth verifies them: ES256 JWS with the self-signed P-256
/// certificate in `x5c` (the same certificate is the registry's rootcertbundle). Grants every requested
/// repository action except those <see cref="Deny"/> names.
/// </summary>
public sealed class JwtIssuer : IDisposable
{
    readonly System.Security.Cryptography.ECDsa _key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
    readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _cert;
    public string Issuer { get; } = "zar-test-issuer";
    public string Service { get; } = "zar-jwt-registry";
    public HashSet<string> Deny { get; } = new();

    public JwtIssuer()
    {
        var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=zar-test-token", _key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        _cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    public string CertificatePem => _cert.ExportCertificatePem();

    static string B64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public string Issue(string subject, IEnumerable<string> scopes, int expiresIn)
    {
        var access = new List<object>();
        foreach (var scope in scopes)
        {
            int first = scope.IndexOf(':'), last = scope.LastIndexOf(':');
            if (first < 0 || last <= first) continue;
            var actions = scope[(last + 1)..].Split(',').Where(a => !Deny.Contains(a)).ToArray();
            access.Add(new { type = scope[..first], name = scope[(first + 1)..last], actions });
        }
        var header = new { typ = "JWT", alg = "ES256", x5c = new[] { Convert.ToBase64String(_cert.RawData) } };
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = new { iss = Issuer, sub = subject, aud = Service, exp = now + expiresIn, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access };
        string signingInput = B64Url(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64Url(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(claims));
        var sig = _key.SignData(Encoding.ASCII.GetBytes(signingInput), System.Security.Cryptography.HashAlgorithmName.SHA256);
        return signingInput + "." + B64Url(sig);
    }

    public void Dispose() { _cert.Dispose(); _key.Dispose(); }
}

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a registry that cuts connections: the first <see cref="CutsLeft"/>
/// connections whose responses pass <see cref="CutAfterBytes"/> are closed abruptly. Records what clients sent.
/// </summary>
public sealed class FlakyProxy(int upstreamPort, int cuts) : LoopbackProxy(upstreamPort)
{
    readonly StringBuilder _requests = new();
    public long CutAfterBytes { get; set; } = 100_000;
    int _cutsLeft = cuts;
    public int CutsLeft { get => _cutsLeft; set => _cutsLeft = value; }
    public int Cuts;
    /// <summary>Instead of cutting, go silent (a stalled connection).</summary>
    public bool Stall { get; set; }

    public string RequestLog { get { lock (_requests) return _requests.ToString(); } }

    protected override void OnRequestBytes(ReadOnlySpan<byte> bytes)
    {
        lock (_requests) _requests.Append(Encoding.Latin1.GetString(bytes));
    }

    protected override async Task PumpDown(TcpClient client, TcpClient upstream, NetworkStream us, NetworkStream cs)
    {
        var buf = new byte[8192];
        long passed = 0;
        int n;
        while ((n = await us.ReadAsync(buf)) > 0)
        {
            if (passed + n > CutAfterBytes && Volatile.Read(ref _cutsLeft) > 0 && Interlocked.Decrement(ref _cutsLeft) >= 0)
            {
                int keep = (int)Math.Max(0, CutAfterBytes - passed);
                await cs.WriteAsync(buf.AsMemory(0, keep));
                Interlocked.Increment(ref Cuts);
                if (Stall)
                {
                    // Keep the connection open and silent until the client gives up on it.
                    try { await cs.ReadAsync(new byte[1], Stop.Token); } catch { }
                }
                client.Client.LingerState = new LingerOption(true, 0); // RST, like a dropped connection
                client.Close();
                upstream.Close();
                return;
            }
            passed += n;
            await cs.WriteAsync(buf.AsMemory(0, n));
        }
    }
}

/// <summary>The three registries the registry tests share: no auth, htpasswd Basic, and silly auth + our token endpoint.</summary>
public sealed class RegistryFixture : IDisposable
{
    public const string User = "alice";
    public const string Password = "s3cret-pw";
    readonly TempDir _dir = new();
    readonly Lazy<RegistryServer> _plain, _basic, _token;
    readonly Lazy<TokenServer> _tokenServer;
    readonly Lazy<(JwtIssuer Issuer, TokenServer Server, RegistryServer Registry)> _jwt;

    public RegistryFixture()
    {
        _plain = new(() => new RegistryServer());
        _basic = new(() =>
        {
            var hash = Tools.Run("htpasswd", new[] { "-nbB", User, Password });
            if (hash.Code != 0) throw new Exception("htpasswd failed: " + hash.Err);
            var file = RegistryServer.WriteSide(_dir, "htpasswd", hash.Out.Trim() + "\n");
            return new RegistryServer($"auth:\n  htpasswd:\n    realm: zar-test\n    path: {file}\n");
        });
        _tokenServer = new(() => new TokenServer(User, Password));
        _token = new(() => new RegistryServer(
            $"auth:\n  silly:\n    realm: {_tokenServer.Value.Realm}\n    service: zar-test-registry\n"));
        _jwt = new(() =>
        {
            var issuer = new JwtIssuer();
            var server = new TokenServer(User, Password, issuer);
            var bundle = RegistryServer.WriteSide(_dir, "token-root.pem", issuer.CertificatePem);
            var registry = new RegistryServer(
                $"auth:\n  token:\n    realm: {server.Realm}\n    service: {issuer.Service}\n    issuer: {issuer.Issuer}\n    rootcertbundle: {bundle}\n");
            return (issuer, server, registry);
        });
    }

    public RegistryServer Plain { get { Tools.Require("docker-registry"); return _plain.Value; } }
    public RegistryServer Basic { get { Tools.Require("docker-registry"); Tools.Require("htpasswd"); return _basic.Value; } }
    public RegistryServer Token { get { Tools.Require("docker-registry"); return _token.Value; } }
    public TokenServer TokenEndpoint => _tokenServer.Value;
    public (JwtIssuer Issuer, TokenServer Server, RegistryServer Registry) Jwt { get { Tools.Require("docker-registry"); return _jwt.Value; } }

    public void Dispose()
    {
        foreach (var l in new[] { _plain, _basic, _token }) if (l.IsValueCreated) l.Value.Dispose();
        if (_tokenServer.IsValueCreated) _tokenServer.Value.Dispose();
        if (_jwt.IsValueCreated) { _jwt.Value.Registry.Dispose(); _jwt.Value.Server.Dispose(); _jwt.Value.Issuer.Dispose(); }
        _dir.Dispose();
    }
}

[CollectionDefinition("registry")]
public sealed class RegistryCollection : ICollectionFixture<RegistryFixture>;
