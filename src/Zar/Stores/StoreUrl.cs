namespace Zar.Stores;

/// <summary>
/// The parts of a store URL as rfs reads them: <c>scheme://[user[:password]@]host[:port][/path][?query]</c>.
/// Userinfo is kept as typed (rfs uses it percent-encoded, without decoding), so credentials round-trip.
/// </summary>
public sealed record StoreUrl(string Text, string Scheme, string? User, string? Password, string Host, int? Port, string Path, string Query)
{
    public static StoreUrl Parse(string text)
    {
        int sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0) throw new ContentStoreException($"{text}: not a store URL (expected scheme://...)");
        var scheme = text[..sep].ToLowerInvariant();
        var rest = text[(sep + 3)..];
        string query = "";
        if (rest.IndexOf('?') is var q and >= 0) { query = rest[(q + 1)..]; rest = rest[..q]; }
        int slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "" : rest[slash..];
        string? user = null, password = null;
        if (authority.LastIndexOf('@') is var at and >= 0)
        {
            var info = authority[..at];
            authority = authority[(at + 1)..];
            if (info.IndexOf(':') is var colon and >= 0) { user = info[..colon]; password = info[(colon + 1)..]; }
            else user = info;
        }
        string host = authority;
        int? port = null;
        int portColon = authority.StartsWith('[') ? authority.IndexOf("]:", StringComparison.Ordinal) + 1 : authority.LastIndexOf(':');
        if (portColon > 0)
        {
            host = authority[..portColon];
            if (!int.TryParse(authority[(portColon + 1)..], out var p) || p is <= 0 or > 65535)
                throw new ContentStoreException($"{Redacted(text)}: bad port '{authority[(portColon + 1)..]}'");
            port = p;
        }
        return new StoreUrl(text, scheme, user, password, host.Trim('[', ']'), port, path, query);
    }

    /// <summary>The URL with its password removed (<c>zdb://u:pw@h/ns</c> → <c>zdb://u@h/ns</c>), or as typed when it has none.</summary>
    public string WithoutPassword => Password == null ? Text : Redacted(Text);

    /// <summary>For messages: a URL's password never appears in output.</summary>
    public static string Redacted(string url)
    {
        int sep = url.IndexOf("://", StringComparison.Ordinal);
        if (sep < 0) return url;
        int start = sep + 3;
        int end = url.IndexOfAny(['/', '?'], start);
        if (end < 0) end = url.Length;
        int at = url.LastIndexOf('@', end - 1, end - start);
        if (at < 0) return url;
        int colon = url.IndexOf(':', start, at - start);
        return colon < 0 ? url : url[..colon] + url[at..];
    }

    public string? QueryValue(string name)
    {
        foreach (var pair in Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var k = eq < 0 ? pair : pair[..eq];
            if (k == name) return eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }
        return null;
    }
}
