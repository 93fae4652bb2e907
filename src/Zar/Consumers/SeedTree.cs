using System.Text;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>The original tool's `-r` output: one line per entry, `[folder]`, `[symlink] a -> b`, `[regular file]`, contents with -detail.</summary>
public static class SeedTree
{
    public static void Print(IReadOnlyFileSystem fs, TextWriter output, Stream rawOutput, bool detail)
    {
        foreach (var e in fs.Walk())
        {
            if (e.Path.Length == 0) continue;
            string path = ZarPath.Display(e.Path);
            string line = e.Type switch
            {
                EntryType.Directory => $"[folder] {path}",
                EntryType.Symlink => $"[symlink] {path} -> {ZarPath.Display(e.LinkTarget ?? "")}",
                EntryType.Regular => $"[regular file] {path}",
                EntryType.CharDevice => $"[char device] {path} {e.DevMajor},{e.DevMinor}",
                EntryType.BlockDevice => $"[block device] {path} {e.DevMajor},{e.DevMinor}",
                EntryType.Fifo => $"[fifo] {path}",
                EntryType.Socket => $"[socket] {path}",
                _ => $"[{e.Type}] {path}",
            };
            output.WriteLine(line);
            if (detail && e.IsRegular)
            {
                output.Flush();
                using (var s = fs.OpenRead(e)) s.CopyTo(rawOutput);
                rawOutput.Flush();
                if (e.Size > 0) output.WriteLine();
            }
        }
        output.Flush();
    }
}
