using System.Text;
using Microsoft.Data.Sqlite;
using Zar.Model;

namespace Zar.Formats.Flist;

// The rows of an fl's tables (flist spec §2.2-2.4), each read and written side by side. Storage classes
// matter to rfs (sqlx checks them): names, urls and tag values are TEXT, ids, keys and link targets BLOB,
// everything else INTEGER, never NULL.

/// <summary>
/// <c>inode</c>: one row per path. <see cref="Mode"/> is the full st_mode (type | 07777), <see cref="Rdev"/>
/// the glibc makedev encoding, times whole seconds. The root is ino 1, parent 0, name "/".
/// </summary>
public readonly record struct FlistInode(long Ino, long Parent, string Name, long Size, uint Uid, uint Gid, uint Mode, ulong Rdev, long Ctime, long Mtime)
{
    public const string Select = "SELECT ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime FROM inode";

    public static FlistInode Read(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetInt64(1), Text(r, 2), r.GetInt64(3),
        // rfs fills gid from the uid column when it reads (a bug); the gid column is the real one.
        (uint)r.GetInt64(4), (uint)r.GetInt64(5), (uint)r.GetInt64(6), (ulong)r.GetInt64(7), r.GetInt64(8), r.GetInt64(9));

    public const string Insert = "INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime) VALUES ($ino, $parent, $name, $size, $uid, $gid, $mode, $rdev, $ctime, $mtime)";

    public void Bind(SqliteCommand c)
    {
        c.Parameters.Clear();
        c.Parameters.AddWithValue("$ino", Ino);
        c.Parameters.AddWithValue("$parent", Parent);
        c.Parameters.AddWithValue("$name", Name);
        c.Parameters.AddWithValue("$size", Size);
        c.Parameters.AddWithValue("$uid", (long)Uid);
        c.Parameters.AddWithValue("$gid", (long)Gid);
        c.Parameters.AddWithValue("$mode", (long)Mode);
        c.Parameters.AddWithValue("$rdev", (long)Rdev);
        c.Parameters.AddWithValue("$ctime", Ctime);
        c.Parameters.AddWithValue("$mtime", Mtime);
    }

    /// <summary>glibc's makedev: minor low byte, 12 bits of major, the rest of minor, the rest of major.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        (minor & 0xffUL) | ((major & 0xfffUL) << 8) | (((ulong)minor & ~0xffUL) << 12) | (((ulong)major & ~0xfffUL) << 32);

    public uint DevMajor => (uint)(((Rdev >> 8) & 0xfff) | ((Rdev >> 32) & ~0xfffUL));
    public uint DevMinor => (uint)((Rdev & 0xff) | ((Rdev >> 12) & ~0xffUL));

    /// <summary>A TEXT column as rfs writes it; a BLOB (another writer's) is taken as its bytes.</summary>
    internal static string Text(SqliteDataReader r, int i) => r.GetValue(i) switch
    {
        string s => s,
        byte[] b => ZarPath.Decode(b),
        DBNull => "",
        var v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Bytes of a BLOB column; TEXT (tolerated in <c>extra.data</c>) as UTF-8.</summary>
    internal static byte[] Bytes(SqliteDataReader r, int i) => r.GetValue(i) switch
    {
        byte[] b => b,
        string s => Encoding.UTF8.GetBytes(s),
        _ => [],
    };
}

/// <summary><c>extra</c>: a symlink's target, the raw bytes of readlink, as a BLOB.</summary>
public readonly record struct FlistExtra(long Ino, byte[] Data)
{
    public const string Select = "SELECT ino, data FROM extra";
    public static FlistExtra Read(SqliteDataReader r) => new(r.GetInt64(0), FlistInode.Bytes(r, 1));
    public const string Insert = "INSERT INTO extra (ino, data) VALUES ($ino, $data)";

    public void Bind(SqliteCommand c)
    {
        c.Parameters.Clear();
        c.Parameters.AddWithValue("$ino", Ino);
        c.Parameters.AddWithValue("$data", Data);
    }
}

/// <summary>
/// <c>block</c>: one row per 512 KiB chunk of a regular file, in file order by rowid (there is no position
/// column). <see cref="Id"/> is the blob's store key, <see cref="Key"/> its AES key: both 32-byte BLOBs.
/// </summary>
public readonly record struct FlistBlock(long Ino, byte[] Id, byte[] Key)
{
    public const string SelectForInode = "SELECT ino, id, key FROM block WHERE ino = $ino ORDER BY rowid";
    public const string SelectDistinctIds = "SELECT DISTINCT id FROM block";

    public static FlistBlock Read(SqliteDataReader r) => new(r.GetInt64(0), FlistInode.Bytes(r, 1), FlistInode.Bytes(r, 2));

    public const string Insert = "INSERT INTO block (ino, id, key) VALUES ($ino, $id, $key)";

    public void Bind(SqliteCommand c)
    {
        c.Parameters.Clear();
        c.Parameters.AddWithValue("$ino", Ino);
        c.Parameters.AddWithValue("$id", Id);
        c.Parameters.AddWithValue("$key", Key);
    }
}

/// <summary><c>tag</c>: free-form key/value metadata (rfs writes none and reads none).</summary>
public readonly record struct FlistTag(string Key, string Value)
{
    public const string Select = "SELECT key, value FROM tag ORDER BY key";
    public static FlistTag Read(SqliteDataReader r) => new(FlistInode.Text(r, 0), FlistInode.Text(r, 1));
    public const string Upsert = "INSERT OR REPLACE INTO tag (key, value) VALUES ($key, $value)";

    public void Bind(SqliteCommand c)
    {
        c.Parameters.Clear();
        c.Parameters.AddWithValue("$key", Key);
        c.Parameters.AddWithValue("$value", Value);
    }
}

/// <summary><c>route</c>: a store and the inclusive range of id first bytes it serves.</summary>
public readonly record struct FlistRoute(byte Start, byte End, string Url)
{
    public const string Select = "SELECT start, \"end\", url FROM route ORDER BY rowid";

    public static FlistRoute Read(SqliteDataReader r)
    {
        long start = r.GetInt64(0), end = r.GetInt64(1);
        if (start is < 0 or > 255 || end is < 0 or > 255) throw new ZarFormatException($"route ({start}, {end}): a range bound is not a byte");
        return new((byte)start, (byte)end, FlistInode.Text(r, 2));
    }

    public const string Insert = "INSERT INTO route (start, \"end\", url) VALUES ($start, $end, $url)";

    public void Bind(SqliteCommand c)
    {
        c.Parameters.Clear();
        c.Parameters.AddWithValue("$start", (long)Start);
        c.Parameters.AddWithValue("$end", (long)End);
        c.Parameters.AddWithValue("$url", Url);
    }

    public override string ToString() => $"range:[{Start}-{End}] store:{Url}";
}
