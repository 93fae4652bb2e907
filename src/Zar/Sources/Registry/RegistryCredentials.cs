using System.Text;
using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Registry;

public sealed record RegistryCredential(string Username, string Password)
{
    /// <summary>`user:pass` as given on a command line (the password may contain ':').</summary>
    public static RegistryCredential Parse(string userColonPass)
    {
        int colon = userColonPass.IndexOf(':');
        if (colon <= 0) throw new ZarException("credentials must be given as USER:PASSWORD");
        return new RegistryCredential(userColonPass[..colon], userColonPass[(colon + 1)..]);
    }

    public string BasicHeaderValue => Convert.ToBase64String(Encoding.UTF8.GetBytes(Username + ":" + Password));

    public override string ToString() => $"{Username}:***";
}

/// <summary>
/// Credentials from the auth files Docker, Podman and skopeo write: `auths` → host → `auth` (base64 user:pass)
/// or `username`/`password`. Credential helpers (`credsStore`, `credHelpers`) are not run.
/// </summary>
public static class RegistryCredentials
{
    /// <summary>
    /// The credential for <paramref name="host"/>: an explicit `user:pass` first, else the auth file given, else
    /// $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json or ~/.docker/config.json; null = anonymous.
    /// </summary>
    public static RegistryCredential? Resolve(string host, string? explicitUserPass = null, string? authFile = null)
    {
        if (!string.IsNullOrEmpty(explicitUserPass)) return RegistryCredential.Parse(explicitUserPass);
        foreach (var file in CandidateFiles(authFile))
        {
            if (!File.Exists(file)) { if (file == authFile) throw new ZarException($"{file}: auth file does not exist"); continue; }
            var c = FromAuthFile(file, host);
            if (c != null) return c;
        }
        return null;
    }

    static IEnumerable<string> CandidateFiles(string? authFile)
    {
        if (!string.IsNullOrEmpty(authFile)) { yield return authFile; yield break; }
        var env = Environment.GetEnvironmentVariable("REGISTRY_AUTH_FILE");
        if (!string.IsNullOrEmpty(env)) yield return env;
        var dockerConfig = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
        if (!string.IsNullOrEmpty(dockerConfig)) yield return Path.Combine(dockerConfig, "config.json");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home)) yield return Path.Combine(home, ".docker", "config.json");
    }

    public static RegistryCredential? FromAuthFile(string file, string host)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(file)); }
        catch (JsonException e) { throw new ZarFormatException($"{file}: invalid JSON ({e.Message})", e); }
        catch (IOException e) { throw new ZarException($"{file}: {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new ZarException($"{file}: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("auths", out var auths)
                || auths.ValueKind != JsonValueKind.Object)
                return null;
            string want = NormalizeKey(host);
            foreach (var entry in auths.EnumerateObject())
            {
                if (!string.Equals(NormalizeKey(entry.Name), want, StringComparison.OrdinalIgnoreCase)) continue;
                if (entry.Value.ValueKind != JsonValueKind.Object) continue;
                if (entry.Value.TryGetProperty("auth", out var a) && a.ValueKind == JsonValueKind.String && !string.IsNullOrEmpty(a.GetString()))
                {
                    string decoded;
                    try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(a.GetString()!)); }
                    catch (FormatException) { throw new ZarFormatException($"{file}: auths.{entry.Name}.auth is not base64"); }
                    int colon = decoded.IndexOf(':');
                    if (colon <= 0) throw new ZarFormatException($"{file}: auths.{entry.Name}.auth does not decode to user:password");
                    return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..]);
                }
                string? user = entry.Value.TryGetProperty("username", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
                string? pass = entry.Value.TryGetProperty("password", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                if (!string.IsNullOrEmpty(user) && pass != null) return new RegistryCredential(user, pass);
            }
            return null;
        }
    }

    /// <summary>Keys appear as `host`, `https://host`, `https://index.docker.io/v1/`: compare hosts only.</summary>
    static string NormalizeKey(string key)
    {
        int scheme = key.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) key = key[(scheme + 3)..];
        int slash = key.IndexOf('/');
        if (slash >= 0) key = key[..slash];
        key = key.ToLowerInvariant();
        return key is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? "docker.io" : key;
    }
}
