using System.Globalization;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>What <c>zar inspect</c> shows for any tree.</summary>
public static class Inspection
{
    /// <summary>The image's own description; for trees that have none (directories, merged layers), their entry and byte counts.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Describe(IReadOnlyFileSystem fs)
    {
        if (fs is IDescribeImage image) return image.Describe();
        long entries = 0, bytes = 0;
        foreach (var e in fs.Walk()) { entries++; if (e.IsRegular) bytes += e.Size; }
        return [new("source", fs.Description), new("entries", Number(entries)), new("file bytes", Number(bytes))];
    }

    static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
