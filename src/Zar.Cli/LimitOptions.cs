using System.CommandLine;
using Zar.Consumers;

namespace Zar.Cli;

/// <summary>--max-size and --max-entries: how far an untrusted image may expand when written out.</summary>
static class LimitOptions
{
    public static Option<string> MaxSize() => new("--max-size")
    {
        Description = $"refuse (before writing) an image whose file data, in total or in one file, exceeds SIZE (e.g. 500M, 20G; default {ExpansionLimits.Format(ExpansionLimits.DefaultMaxBytes)}; EROFS: the image's size)",
    };

    public static Option<long> MaxEntries() => new("--max-entries")
    {
        Description = $"refuse (before writing) an image of more than N entries (default {ExpansionLimits.DefaultMaxEntries})",
        DefaultValueFactory = _ => ExpansionLimits.DefaultMaxEntries,
    };

    public static ExpansionLimits Limits(ParseResult p, Option<string> maxSize, Option<long> maxEntries)
    {
        long entries = p.GetValue(maxEntries);
        if (entries <= 0) throw new Zar.Model.ZarException("--max-entries: expected a positive number");
        return new ExpansionLimits
        {
            MaxBytes = p.GetValue(maxSize) is { } size ? ExpansionLimits.ParseSize(size) : ExpansionLimits.DefaultMaxBytes,
            MaxEntries = entries,
        };
    }
}
