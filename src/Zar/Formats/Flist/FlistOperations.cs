using Zar.Model;
using Zar.Sources.Images;
using Zar.Stores;

namespace Zar.Formats.Flist;

/// <summary>rfs's <c>clone</c>: copy every blob an fl references to other stores (same ids), leaving its routes alone.</summary>
public static class FlistClone
{
    public sealed record Result(long Blobs, long Copied, long Skipped);

    public static Result Clone(FlistImage fl, ContentRouter target, int parallelism = 4, IProgress<long>? progress = null)
    {
        target.RequireWritableCoverage();
        var ids = fl.BlobIds();
        long copied = 0, skipped = 0, done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism) };
        try
        {
            Parallel.ForEach(ids, po, id =>
            {
                if (id.Length != ChunkCodec.HashSize) throw new ZarFormatException($"{fl.Description}: a block id is {id.Length} bytes, not 32");
                if (target.Exists(id)) Interlocked.Increment(ref skipped);
                else
                {
                    var blob = fl.Chunks.Router.Get(id)
                        ?? throw new ContentStoreException($"{fl.Description}: blob {ChunkCodec.Hex(id)} is in none of its stores");
                    var (written, _) = target.PutMissing(id, blob);
                    Interlocked.Increment(ref written > 0 ? ref copied : ref skipped);
                }
                progress?.Report(Interlocked.Increment(ref done));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is ZarException) is { } first)
        {
            throw first;
        }
        return new Result(ids.Count, copied, skipped);
    }
}

/// <summary>rfs's <c>config</c>: list and edit an existing fl's tags and routes in place (one SQLite transaction each).</summary>
public static class FlistConfig
{
    public static IReadOnlyList<FlistTag> Tags(string fl)
    {
        using var db = FlistDatabase.OpenRead(fl);
        return db.ReadAll(FlistTag.Select, FlistTag.Read);
    }

    public static void AddTags(string fl, IEnumerable<FlistTag> tags) => Edit(fl, db =>
    {
        using var c = db.Command(FlistTag.Upsert);
        foreach (var t in tags)
        {
            t.Bind(c);
            c.ExecuteNonQuery();
        }
    });

    /// <summary>Deletes the tags with these keys; returns how many existed.</summary>
    public static int DeleteTags(string fl, IEnumerable<string> keys) => DeleteRows(fl, "tag", "key", keys);

    public static int DeleteAllTags(string fl) => Edit(fl, db => { using var c = db.Command("DELETE FROM tag"); return c.ExecuteNonQuery(); });

    public static IReadOnlyList<FlistRoute> Routes(string fl)
    {
        using var db = FlistDatabase.OpenRead(fl);
        return db.ReadAll(FlistRoute.Select, FlistRoute.Read);
    }

    /// <summary>Appends one route per spec <c>[xx-yy=]URL</c>; the store URL is checked (known scheme, parseable) but not contacted.</summary>
    public static IReadOnlyList<FlistRoute> AddRoutes(string fl, IEnumerable<string> specs, bool stripPasswords = true)
    {
        var routes = new List<FlistRoute>();
        foreach (var spec in specs)
        {
            var (start, end, url) = ContentRouter.ParseSpec(spec);
            using var store = ContentStores.Open(url);
            routes.Add(new FlistRoute(start, end, store.RouteUrl(stripPasswords)));
        }
        Edit(fl, db =>
        {
            using var c = db.Command(FlistRoute.Insert);
            foreach (var r in routes)
            {
                r.Bind(c);
                c.ExecuteNonQuery();
            }
        });
        return routes;
    }

    public static int DeleteRoutes(string fl, IEnumerable<string> urls) => DeleteRows(fl, "route", "url", urls);

    /// <summary>Deletes the rows of <paramref name="table"/> whose <paramref name="column"/> is one of the values; returns how many existed.</summary>
    static int DeleteRows(string fl, string table, string column, IEnumerable<string> values) => Edit(fl, db =>
    {
        int n = 0;
        using var c = db.Command($"DELETE FROM {table} WHERE {column} = $value");
        foreach (var v in values)
        {
            c.Parameters.Clear();
            c.Parameters.AddWithValue("$value", v);
            n += c.ExecuteNonQuery();
        }
        return n;
    });

    public static int DeleteAllRoutes(string fl) => Edit(fl, db => { using var c = db.Command("DELETE FROM route"); return c.ExecuteNonQuery(); });

    static void Edit(string fl, Action<FlistDatabase> work) => Edit(fl, db => { work(db); return 0; });

    static T Edit<T>(string fl, Func<FlistDatabase, T> work)
    {
        using var db = FlistDatabase.OpenWrite(fl);
        return db.Run(() =>
        {
            using var tx = db.Connection.BeginTransaction();
            var r = work(db);
            tx.Commit();
            return r;
        });
    }
}

/// <summary>docker2fl's conventions: which image a name means, and the fl file it is written to.</summary>
public static class Docker2Fl
{
    static readonly string[] Transports = ["docker-archive:", "oci:", "oci-archive:", "tar:", "dir:", "stack:"];

    /// <summary>A bare name (<c>redis</c>, <c>ghcr.io/x/y:1</c>) is a registry image; a spec with a transport, or an existing path, is used as given.</summary>
    public static string SourceReference(string image) =>
        image.StartsWith("docker://", StringComparison.Ordinal) || Transports.Any(t => image.StartsWith(t, StringComparison.Ordinal))
        || File.Exists(image) || Directory.Exists(image) ? image : "docker://" + image;

    /// <summary>
    /// docker2fl's file name: <c>:latest</c> added when the name has no ':', then ':' and '/' become '-', plus
    /// <c>.fl</c> (<c>redis</c> → <c>redis-latest.fl</c>). For a local transport the layout's own name is used.
    /// </summary>
    public static string OutputName(string image)
    {
        var name = image.StartsWith("docker://", StringComparison.Ordinal) ? image["docker://".Length..] : image;
        if (Transports.FirstOrDefault(t => name.StartsWith(t, StringComparison.Ordinal)) is { } transport)
        {
            name = name[transport.Length..].TrimEnd('/');
            name = name[(name.LastIndexOf('/') + 1)..];
        }
        if (!name.Contains(':')) name += ":latest";
        return name.Replace(':', '-').Replace('/', '-') + ".fl";
    }

    /// <summary>The <c>/.startup.toml</c> for a source: an image's config when it has something to run, else none.</summary>
    public static byte[]? StartupFor(IReadOnlyFileSystem fs) =>
        fs is MergedImage image && StartupToml.HasContent(image.Config) ? StartupToml.From(image.Config) : null;
}
