using System.Text;
using Zar.Consumers;
using Zar.Sources.Layers;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Sources.Tar;
using Zar.Tests.Support;

namespace Zar.Tests.Hardening;

/// <summary>Tars built byte by byte for hostile-input tests: huge sparse maps, absurd sizes.</summary>
public static class HostileTars
{
    /// <summary>
    /// A PAX 1.0 sparse file (GNU tar's --sparse-version=1.0) with <paramref name="extents"/> one-byte
    /// extents every <paramref name="step"/> bytes; its logical size is <paramref name="claimedSize"/> when given.
    /// </summary>
    public static byte[] SparseFile(string name, int extents, long step = 4096, long? claimedSize = null)
    {
        var map = new StringBuilder().Append(extents).Append('\n');
        for (int i = 0; i < extents; i++) map.Append(i * step).Append("\n1\n");
        var mapBytes = Encoding.ASCII.GetBytes(map.ToString());
        int mapArea = (mapBytes.Length + 511) / 512 * 512;
        var data = new byte[mapArea + extents];
        mapBytes.CopyTo(data, 0);
        for (int i = 0; i < extents; i++) data[mapArea + i] = (byte)('a' + i % 26);
        long size = claimedSize ?? (long)extents * step;
        var tar = new RawTar()
            .Pax('x', RawTar.R("GNU.sparse.major", "1"), RawTar.R("GNU.sparse.minor", "0"),
                RawTar.R("GNU.sparse.name", name), RawTar.R("GNU.sparse.realsize", size.ToString()))
            .Add(RawTar.NewHeader("GNUSparseFile.0/" + name, '0', data.Length), data)
            .End();
        return tar.ToArray();
    }

    /// <summary>The expected logical content byte at <paramref name="offset"/> of <see cref="SparseFile"/>.</summary>
    public static byte SparseByte(long offset, int extents, long step = 4096) =>
        offset % step == 0 && offset / step < extents ? (byte)('a' + offset / step % 26) : (byte)0;

    public static string Write(TempDir t, string name, byte[] tar)
    {
        var path = t[name];
        File.WriteAllBytes(path, tar);
        return path;
    }

    public static LayerStack Open(string tarPath, LayerStackOptions? options = null) =>
        LayerStack.Open(new FileLayersSource([tarPath]), options);
}
