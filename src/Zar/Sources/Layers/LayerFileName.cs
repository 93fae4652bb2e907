using System.Globalization;
using System.Text.RegularExpressions;
using Zar.Model;

namespace Zar.Sources.Layers;

/// <summary>
/// Names of per-layer outputs (zar convert --per-layer, zar cfs), chosen so that sorting the names gives
/// the bottom-to-top order: <c>01-&lt;first 12 hex of the layer's digest&gt;.zar</c>, the number zero-padded
/// to the width the layer count needs.
/// </summary>
public static partial class LayerFileName
{
    [GeneratedRegex(@"^[0-9]{2,}-[^/]+\.(zar|erofs)$")]
    private static partial Regex LayerImageName();

    /// <summary>
    /// The per-layer images in a directory written by <c>zar convert --per-layer</c> or <c>zar cfs</c>, bottom
    /// layer first (their names sort that way); a directory holding none is an error.
    /// </summary>
    public static IReadOnlyList<string> ImagesIn(string directory)
    {
        if (!Directory.Exists(directory)) throw new ZarNotFoundException($"{directory}: no such directory");
        var files = Directory.EnumerateFiles(directory).Where(f => LayerImageName().IsMatch(Path.GetFileName(f)))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new ZarException($"{directory}: no per-layer images (NN-<digest>.zar or .erofs) in it");
        return files;
    }

    /// <summary>"01", "02", ... or "001" past 99 layers.</summary>
    public static string Prefix(int index, int count)
    {
        int width = Math.Max(2, count.ToString(CultureInfo.InvariantCulture).Length);
        return (index + 1).ToString(CultureInfo.InvariantCulture).PadLeft(width, '0');
    }

    /// <summary>The name for a layer identified by a digest ("sha256:hex" or bare hex); "NN-layer" when there is none.</summary>
    public static string For(int index, int count, string? digest, string extension)
    {
        if (digest == null) return $"{Prefix(index, count)}-layer.{extension}";
        var hex = digest.Contains(':') ? digest[(digest.IndexOf(':') + 1)..] : digest;
        if (hex.Length < 12 || !hex[..12].All(char.IsAsciiHexDigitLower))
            throw new ZarFormatException($"layer digest '{digest}' is not a lowercase hex digest");
        return $"{Prefix(index, count)}-{hex[..12]}.{extension}";
    }
}
