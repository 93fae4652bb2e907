using Zar.Consumers;
using Zar.Formats.Zar;
using Zar.Model;
using Zar.Sources;

namespace Zar.Cli;

/// <summary>
/// The original tool's interface, kept working: `-w -dir=DIR [-o OUT] [-pagealign]` and
/// `-r [-img IMG] [-detail]`, with Go's flag syntax (-flag, --flag, -flag=value, -flag value;
/// parsing stops at the first non-flag argument).
/// </summary>
static class SeedCli
{
    static readonly HashSet<string> Bools = new() { "w", "r", "pagealign", "detail" };
    static readonly HashSet<string> Strings = new() { "dir", "o", "img" };

    public static bool IsSeedInvocation(string[] args) =>
        args.Length > 0 && args[0].StartsWith('-') && Bools.Concat(Strings).Contains(FlagName(args[0]));

    static string FlagName(string arg) => arg.TrimStart('-').Split('=', 2)[0];

    public static int Run(string[] args) => Errors.Guard(() =>
    {
        var values = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") break;
            if (!a.StartsWith('-') || a == "-") break;
            var body = a.StartsWith("--") ? a[2..] : a[1..];
            var parts = body.Split('=', 2);
            var name = parts[0];
            if (Bools.Contains(name))
            {
                values[name] = parts.Length == 2 ? ParseBool(name, parts[1]) : "true";
            }
            else if (Strings.Contains(name))
            {
                if (parts.Length == 2) values[name] = parts[1];
                else if (i + 1 < args.Length) values[name] = args[++i];
                else throw new ZarException($"flag needs an argument: -{name}");
            }
            else throw new ZarException($"flag provided but not defined: -{name}");
        }
        bool write = values.GetValueOrDefault("w") == "true", read = values.GetValueOrDefault("r") == "true";
        if (write == read) throw new ZarException("give exactly one of -w (write an image) or -r (read an image)");
        if (write)
        {
            var dir = values.GetValueOrDefault("dir") ?? throw new ZarException("-w needs -dir=DIR");
            var output = values.GetValueOrDefault("o") ?? "test.img";
            if (!Directory.Exists(dir)) throw new ZarException($"{dir}: not a directory");
            using var fs = SourceOpener.OpenFileSystem(dir);
            var result = ZarBuilder.Create(fs, output, new ZarWriterOptions { PageAlign = values.GetValueOrDefault("pagealign") == "true" });
            Console.WriteLine($"wrote {output}: {result.EntryCount} entries, {result.ImageBytes} bytes");
            return 0;
        }
        var img = values.GetValueOrDefault("img") ?? "test.img";
        using (var image = SourceOpener.OpenFileSystem(img))
        {
            using var stdout = Console.OpenStandardOutput();
            var writer = new StreamWriter(stdout, new System.Text.UTF8Encoding(false)) { AutoFlush = false };
            SeedTree.Print(image, writer, stdout, values.GetValueOrDefault("detail") == "true");
            writer.Flush();
        }
        return 0;
    });

    static string ParseBool(string name, string v) => v.ToLowerInvariant() switch
    {
        "1" or "t" or "true" => "true",
        "0" or "f" or "false" => "false",
        _ => throw new ZarException($"invalid boolean value \"{v}\" for -{name}"),
    };
}
