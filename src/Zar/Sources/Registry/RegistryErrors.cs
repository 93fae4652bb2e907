using System.Net;
using System.Text;
using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Registry;

/// <summary>A registry answered with an error status; <see cref="Codes"/> are the distribution-spec error codes found in its body.</summary>
public class RegistryException(string message, HttpStatusCode status, IReadOnlyList<string> codes, Exception? inner = null)
    : ZarException(message, inner)
{
    public HttpStatusCode Status { get; } = status;
    public IReadOnlyList<string> Codes { get; } = codes;
}

public sealed class RegistryNotFoundException(string message, HttpStatusCode status, IReadOnlyList<string> codes)
    : RegistryException(message, status, codes);

public sealed class RegistryUnauthorizedException(string message, HttpStatusCode status, IReadOnlyList<string> codes)
    : RegistryException(message, status, codes);

internal static class RegistryErrors
{
    const int MaxErrorBody = 64 * 1024;

    /// <summary>
    /// Builds the one-line error for a failed response. The body is read only when it can be trusted to end:
    /// never for HEAD (none) or 416 (docker-registry advertises the blob size but sends 33 bytes).
    /// </summary>
    public static async Task<RegistryException> FromResponseAsync(HttpResponseMessage resp, string what, CancellationToken ct)
    {
        var status = resp.StatusCode;
        var codes = new List<string>();
        string detail = "";
        bool readBody = resp.RequestMessage?.Method != HttpMethod.Head && status != HttpStatusCode.RequestedRangeNotSatisfiable
            && (resp.Content.Headers.ContentLength ?? 0) <= MaxErrorBody;
        if (readBody)
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(10));
                var body = await ReadUpToAsync(resp.Content, MaxErrorBody, cts.Token).ConfigureAwait(false);
                detail = Describe(body, codes);
            }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested)
            {
                // The status alone still tells the story.
            }
        }
        foreach (var w in resp.Headers.TryGetValues("Warning", out var ws) ? ws : [])
            detail += (detail.Length > 0 ? "; " : "") + "warning: " + w;
        string msg = $"{what}: {(int)status} {resp.ReasonPhrase}{(detail.Length > 0 ? " (" + detail + ")" : "")}";
        return status switch
        {
            HttpStatusCode.NotFound => new RegistryNotFoundException(msg, status, codes),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new RegistryUnauthorizedException(
                msg + " — check the credentials (user:password, REGISTRY_AUTH_FILE or ~/.docker/config.json)", status, codes),
            _ => new RegistryException(msg, status, codes),
        };
    }

    /// <summary>`{"errors":[{"code","message","detail"}]}` when it is that; else the first line of text.</summary>
    internal static string Describe(byte[] body, List<string> codes)
    {
        if (body.Length == 0) return "";
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors)
                && errors.ValueKind == JsonValueKind.Array)
            {
                var parts = new List<string>();
                foreach (var e in errors.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.Object) continue;
                    string? code = e.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    string? message = e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    if (code != null) codes.Add(code);
                    parts.Add(string.Join(": ", new[] { code, message }.Where(s => !string.IsNullOrEmpty(s))));
                }
                if (parts.Count > 0) return string.Join("; ", parts);
            }
        }
        catch (JsonException) { }
        var text = Encoding.UTF8.GetString(body).Trim();
        int nl = text.IndexOfAny(['\r', '\n']);
        if (nl >= 0) text = text[..nl];
        text = new string(text.Select(ch => char.IsControl(ch) ? ' ' : ch).ToArray());
        return text.Length > 200 ? text[..200] + "…" : text;
    }

    internal static async Task<byte[]> ReadUpToAsync(HttpContent content, int max, CancellationToken ct)
    {
        await using var s = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var ms = new MemoryStream();
        var buf = new byte[8192];
        int n;
        while (ms.Length < max && (n = await s.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, max - ms.Length)), ct).ConfigureAwait(false)) > 0)
            ms.Write(buf, 0, n);
        return ms.ToArray();
    }
}
