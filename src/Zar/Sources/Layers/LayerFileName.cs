namespace Zar.Sources.Layers;

/// <summary>
/// Names of per-layer outputs, chosen so that sorting the names gives the bottom-to-top order:
/// <c>01-&lt;first 12 hex of the diff_id&gt;.zar</c>, zero-padded to the width the layer count needs.
/// </summary>
public static class LayerFileName
{
    public static string For(int index, int count, string? diffId, string extension)
    {
        int width = Math.Max(2, count.ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        var hex = diffId == null ? "layer" : diffId[(diffId.IndexOf(':') + 1)..];
        if (hex.Length > 12) hex = hex[..12];
        return $"{(index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width, '0')}-{hex}.{extension}";
    }
}
