using Microsoft.Data.Sqlite;
using Zar.Model;

namespace Zar.Formats.Flist;

/// <summary>
/// An fl file: one SQLite 3 database in rollback-journal (DELETE) mode with the tables of flist spec §2.2.
/// The schema text is rfs's, byte for byte, so <c>rfs config</c>, which re-runs its schema with
/// IF NOT EXISTS, finds what it expects. Not thread-safe: callers serialise access.
/// </summary>
public sealed class FlistDatabase : IDisposable
{
    public const string Schema = """
        CREATE TABLE IF NOT EXISTS inode (
            ino INTEGER PRIMARY KEY AUTOINCREMENT,
            parent INTEGER,
            name VARCHAR(255),
            size INTEGER,
            uid INTEGER,
            gid INTEGER,
            mode INTEGER,
            rdev INTEGER,
            ctime INTEGER,
            mtime INTEGER
        );
        CREATE INDEX IF NOT EXISTS parents ON inode (parent);
        CREATE INDEX IF NOT EXISTS names ON inode (name);
        CREATE TABLE IF NOT EXISTS extra (
            ino INTEGER PRIMARY KEY,
            data VARCHAR(4096)
        );
        CREATE TABLE IF NOT EXISTS block (
            ino INTEGER,
            id VARCHAR(32),
            key VARCHAR(32)
        );
        CREATE INDEX IF NOT EXISTS block_ino ON block (ino);
        CREATE TABLE IF NOT EXISTS tag (
            key VARCHAR(10) PRIMARY KEY,
            value VARCHAR(255)
        );
        CREATE TABLE IF NOT EXISTS route (
            start integer, -- one byte hash prefix
            end integer, -- one byte hash prefix
            url VARCHAR(2048)
        );
        """;

    public SqliteConnection Connection { get; }
    public string Path { get; }

    FlistDatabase(string path, SqliteConnection connection)
    {
        Path = path;
        Connection = connection;
    }

    /// <summary>True when the file starts with the SQLite magic (an fl, or another SQLite database).</summary>
    public static bool HasSqliteMagic(string path) => Sources.FileSniffer.Identify(path) == Sources.FileKind.Sqlite;

    /// <summary>A new, empty fl at <paramref name="path"/> (which must not exist yet).</summary>
    public static FlistDatabase Create(string path)
    {
        var db = Connect(path, SqliteOpenMode.ReadWriteCreate);
        db.Run(() =>
        {
            db.Execute("PRAGMA journal_mode=DELETE");
            db.Execute(Schema);
        });
        return db;
    }

    /// <summary>An existing fl, read-only. Anything that is not an fl (or is damaged) is a one-line format error.</summary>
    public static FlistDatabase OpenRead(string path)
    {
        if (!File.Exists(path)) throw new ZarNotFoundException($"{path}: no such file");
        if (!HasSqliteMagic(path)) throw new ZarFormatException($"{path}: not an fl (no SQLite header)");
        var db = Connect(path, SqliteOpenMode.ReadOnly);
        try
        {
            db.RequireTables();
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>An existing fl for editing (tags, routes). Never creates one: a mistyped path is an error, not a new empty fl.</summary>
    public static FlistDatabase OpenWrite(string path)
    {
        if (!File.Exists(path)) throw new ZarNotFoundException($"{path}: no such file");
        if (!HasSqliteMagic(path)) throw new ZarFormatException($"{path}: not an fl (no SQLite header)");
        var db = Connect(path, SqliteOpenMode.ReadWrite);
        try
        {
            db.RequireTables();
            db.Run(() => db.Execute("PRAGMA journal_mode=DELETE"));
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    static FlistDatabase Connect(string path, SqliteOpenMode mode)
    {
        // No pooling: the file is closed when we are done with it (renamed into place, or unlocked for others).
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ToString();
        var conn = new SqliteConnection(cs);
        var db = new FlistDatabase(path, conn);
        db.Run(conn.Open);
        return db;
    }

    void RequireTables()
    {
        var tables = Run(() =>
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            using var cmd = Command("SELECT name FROM sqlite_master WHERE type = 'table'");
            using var r = cmd.ExecuteReader();
            while (r.Read()) set.Add(r.GetString(0));
            return set;
        });
        foreach (var t in new[] { "inode", "extra", "block", "route" })
            if (!tables.Contains(t)) throw new ZarFormatException($"{Path}: not an fl: a SQLite database without the '{t}' table");
    }

    public SqliteCommand Command(string sql)
    {
        var cmd = Connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd;
    }

    public void Execute(string sql)
    {
        using var cmd = Command(sql);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs database work, turning SQLite's errors (a truncated or corrupted file) into one line naming the fl.</summary>
    public T Run<T>(Func<T> work)
    {
        try { return work(); }
        catch (SqliteException e)
        {
            throw new ZarFormatException($"{Path}: not a readable fl: {e.Message.Replace("SQLite Error ", "sqlite error ")}", e);
        }
        // A damaged row: NULL or a value of the wrong type where the schema promises another.
        catch (Exception e) when (e is InvalidOperationException or InvalidCastException or FormatException or OverflowException)
        {
            throw new ZarFormatException($"{Path}: not a readable fl: a damaged row ({e.Message})", e);
        }
    }

    public void Run(Action work) => Run(() => { work(); return 0; });

    public List<T> ReadAll<T>(string sql, Func<SqliteDataReader, T> read, Action<SqliteCommand>? bind = null) => Run(() =>
    {
        using var cmd = Command(sql);
        bind?.Invoke(cmd);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(read(r));
        return list;
    });

    public void Dispose() => Connection.Dispose();
}
