using System.Text;
using Zar.Model;
using Zar.Sources.Images;
using Zar.Sources.Registry;
using Zar.Tests.Support;
using Zar.Oci;

namespace Zar.Tests.Sources.Registry;

public class RegistryReferenceTests
{
    const string D = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("docker://127.0.0.1:5000/foo/bar:v1", "127.0.0.1:5000", "foo/bar", "v1", null)]
    [InlineData("127.0.0.1:5000/foo", "127.0.0.1:5000", "foo", "latest", null)]
    [InlineData("docker://localhost/app", "localhost", "app", "latest", null)]
    [InlineData("docker://[::1]:5000/a/b/c:tag-1.2_x", "[::1]:5000", "a/b/c", "tag-1.2_x", null)]
    [InlineData("docker://busybox", "docker.io", "library/busybox", "latest", null)]
    [InlineData("docker://user/app:1", "docker.io", "user/app", "1", null)]
    [InlineData("docker://index.docker.io/alpine", "docker.io", "library/alpine", "latest", null)]
    [InlineData("docker://Registry/repo", "Registry", "repo", "latest", null)]
    [InlineData("docker://quay.io/org/img@" + D, "quay.io", "org/img", null, D)]
    [InlineData("docker://quay.io/org/img:tag@" + D, "quay.io", "org/img", "tag", D)]
    [InlineData("docker://h.example:443/a__b/c-d.e", "h.example:443", "a__b/c-d.e", "latest", null)]
    public void ParseValid(string text, string host, string repo, string? tag, string? digest)
    {
        var r = RegistryReference.Parse(text);
        Assert.Equal(host, r.Host);
        Assert.Equal(repo, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest);
        Assert.Equal(digest ?? tag, r.Reference);
    }

    [Theory]
    [InlineData("")]
    [InlineData("docker://")]
    [InlineData("oci:/tmp/x")]
    [InlineData("docker://127.0.0.1:5000/")]
    [InlineData("docker://127.0.0.1:5000/UPPER")]
    [InlineData("docker://127.0.0.1:5000/a//b")]
    [InlineData("docker://127.0.0.1:5000/a:")]
    [InlineData("docker://127.0.0.1:5000/a:.bad")]
    [InlineData("docker://127.0.0.1:5000/a@sha256:xyz")]
    [InlineData("docker://127.0.0.1:5000/a@sha256:0123")]
    [InlineData("docker://bad_host.example/a")]
    [InlineData("docker://127.0.0.1:5000/a-")]
    public void ParseInvalidThrowsClearError(string text)
    {
        var e = Assert.ThrowsAny<ZarException>(() => RegistryReference.Parse(text));
        Assert.Contains("invalid image reference", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("localhost:5000", true)]
    [InlineData("127.0.0.1:5000", true)]
    [InlineData("127.3.4.5", true)]
    [InlineData("[::1]:5000", true)]
    [InlineData("10.0.0.1:5000", false)]
    [InlineData("quay.io", false)]
    public void LoopbackHostsUseHttp(string host, bool loopback)
    {
        Assert.Equal(loopback, RegistryReference.IsLoopbackHost(host));
        using var c = new RegistryClient(host, new RegistryClientOptions { UseAuthFiles = false });
        Assert.Equal(loopback ? "http" : "https", c.BaseUri.Scheme);
        using var insecure = new RegistryClient(host, new RegistryClientOptions { UseAuthFiles = false, TlsVerify = false });
        Assert.Equal("http", insecure.BaseUri.Scheme);
    }
}

public class PlatformTests
{
    [Theory]
    [InlineData("linux/amd64", "linux/amd64")]
    [InlineData("Linux/x86_64", "linux/amd64")]
    [InlineData("linux/amd64/v1", "linux/amd64")]
    [InlineData("linux/aarch64", "linux/arm64")]
    [InlineData("linux/arm64/v8", "linux/arm64")]
    [InlineData("linux/armhf", "linux/arm/v7")]
    [InlineData("linux/armel", "linux/arm/v6")]
    [InlineData("linux/arm", "linux/arm/v7")]
    [InlineData("linux/i386", "linux/386")]
    [InlineData("linux/arm64/v8.2", "linux/arm64/v8.2")]
    public void ParseNormalizes(string text, string expected) => Assert.Equal(expected, Platform.Parse(text).ToString());

    [Theory]
    [InlineData("linux")]
    [InlineData("linux/")]
    [InlineData("a/b/c/d")]
    [InlineData("linux/am d64")]
    public void ParseInvalid(string text) => Assert.Contains("invalid platform", Assert.Throws<ZarException>(() => Platform.Parse(text)).Message);

    [Fact]
    public void Amd64V3PrefersNewestLevelThenOlderThen386()
    {
        var want = Platform.Parse("linux/amd64/v3");
        Assert.Equal(new[] { "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386" }, want.CompatibilityVector().Select(p => p.ToString()));
        Assert.Null(want.CompatibilityRank(Platform.Parse("linux/amd64/v4")));
        Assert.Null(want.CompatibilityRank(Platform.Parse("windows/amd64")));
        Assert.Equal(2, want.CompatibilityRank(new Platform("linux", "x86_64", "v1")));
    }

    [Fact]
    public void Arm64FallsBackTo32bitArm()
    {
        var want = Platform.Parse("linux/arm64");
        Assert.Equal(0, want.CompatibilityRank(new Platform("linux", "aarch64")));
        Assert.NotNull(want.CompatibilityRank(Platform.Parse("linux/arm/v7")));
        Assert.True(want.CompatibilityRank(Platform.Parse("linux/arm/v8"))! < want.CompatibilityRank(Platform.Parse("linux/arm/v6")));
        Assert.Null(want.CompatibilityRank(Platform.Parse("linux/arm64/v8.2")));
        Assert.NotNull(Platform.Parse("linux/arm64/v8.2").CompatibilityRank(Platform.Parse("linux/arm64")));
        Assert.Null(Platform.Parse("linux/arm/v6").CompatibilityRank(Platform.Parse("linux/arm/v7")));
    }

    [Fact]
    public void RankEntriesSkipsAttestationsOrdersByPreferenceAndPutsUnknownLast()
    {
        var att = new Dictionary<string, string> { ["vnd.docker.reference.type"] = "attestation-manifest" };
        var entries = new (Platform? P, Dictionary<string, string>? A)[]
        {
            (Platform.Parse("linux/arm64"), null),       // 0
            (null, null),                                 // 1 no platform
            (new Platform("unknown", "unknown"), att),    // 2 attestation
            (Platform.Parse("linux/386"), null),          // 3
            (Platform.Parse("linux/amd64"), null),        // 4
            (Platform.Parse("linux/amd64"), null),        // 5 duplicate: index order breaks the tie
        };
        var order = Platform.Parse("linux/amd64").RankEntries(entries, e => e.P, e => e.A);
        Assert.Equal(new[] { 4, 5, 3, 1 }, order);
        Assert.Equal("linux/arm64, (no platform), linux/386, linux/amd64",
            Platform.DescribeAvailable(entries, e => e.P, e => e.A));
    }

    [Fact]
    public void HostIsNormalizedAndLinuxHere()
    {
        var host = Platform.Host;
        Assert.Equal(host, host.Normalize());
        Assert.Equal("linux", host.Os);
        Assert.Equal(0, host.CompatibilityRank(host));
    }
}

public class RegistryAuthTests
{
    [Fact]
    public void ChallengeWithQuotedCommasAndSeveralSchemes()
    {
        var all = AuthChallenge.ParseAll(new[]
        {
            "Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push repository:c:pull\",error=\"insufficient_scope\"",
            "Basic realm=\"x\", Bearer realm=\"r2\"",
        });
        Assert.Equal(3, all.Count);
        Assert.Equal("Bearer", all[0].Scheme);
        Assert.Equal("https://auth.example/token", all[0]["realm"]);
        Assert.Equal("registry.example", all[0]["service"]);
        Assert.Equal("repository:a/b:pull,push repository:c:pull", all[0]["scope"]);
        Assert.Equal("insufficient_scope", all[0]["error"]);
        Assert.Equal("Basic", all[1].Scheme);
        Assert.Equal("x", all[1]["realm"]);
        Assert.Equal("r2", all[2]["realm"]);
    }

    [Fact]
    public void CredentialsFromAuthFileAuthFieldAndUsernamePassword()
    {
        using var dir = new TempDir();
        var file = dir["auth.json"];
        string b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes("bob:pa:ss"));
        File.WriteAllText(file, $$"""
            {"auths": {
              "https://127.0.0.1:5000/v2/": {"auth": "{{b64}}"},
              "other.example": {"username": "carol", "password": "pw2"},
              "https://index.docker.io/v1/": {"auth": "{{Convert.ToBase64String(Encoding.UTF8.GetBytes("hub:hubpw"))}}"}
            }, "credsStore": "desktop"}
            """);
        Assert.Equal(new RegistryCredential("bob", "pa:ss"), RegistryCredentials.Resolve("127.0.0.1:5000", null, file));
        Assert.Equal(new RegistryCredential("carol", "pw2"), RegistryCredentials.Resolve("other.example", null, file));
        Assert.Equal(new RegistryCredential("hub", "hubpw"), RegistryCredentials.Resolve("docker.io", null, file));
        Assert.Null(RegistryCredentials.Resolve("unknown.example", null, file));
        Assert.Equal(new RegistryCredential("x", "y:z"), RegistryCredentials.Resolve("other.example", "x:y:z", file));
        Assert.Throws<ZarException>(() => RegistryCredential.Parse("nocolon"));
        File.WriteAllText(file, "{\"auths\": {\"h\": {\"auth\": \"!!!\"}}}");
        Assert.Contains("not base64", Assert.Throws<ZarFormatException>(() => RegistryCredentials.Resolve("h", null, file)).Message);
        File.WriteAllText(file, "{broken");
        Assert.Contains(file, Assert.Throws<ZarFormatException>(() => RegistryCredentials.Resolve("h", null, file)).Message);
    }

    [Fact]
    public void CredentialsFromRegistryAuthFile()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["auth.json"], "{\"auths\":{\"envhost.example:5000\":{\"auth\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes("env:pw")) + "\"}}}");
        var old = Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE");
        Environment.SetEnvironmentVariable("REGISTRY_AUTH_FILE", dir["auth.json"]);
        try
        {
            Assert.Equal(new RegistryCredential("env", "pw"), RegistryCredentials.Resolve("envhost.example:5000"));
            Assert.Null(RegistryCredentials.Resolve("envhost.example:5001"));
        }
        finally { Environment.SetEnvironmentVariable("REGISTRY_AUTH_FILE", old); }
    }

    [Fact]
    public void ErrorBodiesParsedDefensively()
    {
        var codes = new List<string>();
        var msg = RegistryErrors.Describe(Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{\"x\":1}}]}"), codes);
        Assert.Equal("MANIFEST_UNKNOWN: manifest unknown", msg);
        Assert.Equal(new[] { "MANIFEST_UNKNOWN" }, codes);
        Assert.Equal("404 page not found", RegistryErrors.Describe(Encoding.UTF8.GetBytes("404 page not found\nmore"), new()));
        Assert.Equal("{\"errors\":5}", RegistryErrors.Describe(Encoding.UTF8.GetBytes("{\"errors\":5}"), new()));
    }

    [Fact]
    public void ManifestKindDetectedWithoutMediaType()
    {
        Assert.Equal(MediaTypes.OciIndex, ManifestDocument.DetectMediaType(Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"manifests\":[]}"), null, "x"));
        Assert.Equal(MediaTypes.OciManifest, ManifestDocument.DetectMediaType(Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}"), "application/json", "x"));
        Assert.Equal(MediaTypes.DockerManifestList, ManifestDocument.DetectMediaType(Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"manifests\":[]}"), MediaTypes.DockerManifestList + "; charset=utf-8", "x"));
        Assert.Throws<ZarNotSupportedException>(() => ManifestDocument.DetectMediaType(Encoding.UTF8.GetBytes("{\"schemaVersion\":1,\"fsLayers\":[]}"), null, "x"));
        Assert.Throws<ZarFormatException>(() => ManifestDocument.DetectMediaType(Encoding.UTF8.GetBytes("[1]"), null, "x"));
    }

    [Fact]
    public void VerifyingStreamDetectsMismatchAndSize()
    {
        var data = Encoding.UTF8.GetBytes("hello world");
        var good = Digest.Sha256(data);
        using (var s = new DigestVerifyingStream(new MemoryStream(data), good, data.Length, "t"))
        {
            s.CopyTo(Stream.Null);
            Assert.True(s.Verified);
        }
        var bad = Digest.Sha256(Encoding.UTF8.GetBytes("hello worle"));
        using (var s = new DigestVerifyingStream(new MemoryStream(data), bad, data.Length, "t"))
            Assert.Contains("does not match its digest", Assert.Throws<ZarFormatException>(() => s.CopyTo(Stream.Null)).Message);
        using (var s = new DigestVerifyingStream(new MemoryStream(data), good, 5, "t"))
            Assert.Contains("longer than", Assert.Throws<ZarFormatException>(() => s.CopyTo(Stream.Null)).Message);
        using (var s = new DigestVerifyingStream(new MemoryStream(data), good, 50, "t"))
            Assert.Contains("expected 50", Assert.Throws<ZarFormatException>(() => s.CopyTo(Stream.Null)).Message);
    }
}
