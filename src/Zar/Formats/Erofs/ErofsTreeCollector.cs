using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Reads the source tree into <see cref="ErofsNode"/>s: one node per inode (names of a hardlinked file,
/// which share <see cref="Entry.Inode"/>, share one node), children sorted by name bytes, and nodes
/// numbered breadth-first.
/// </summary>
static class ErofsTreeCollector
{
    public static void Collect(ErofsPlan plan)
    {
        var fs = plan.Source;
        var root = new ErofsNode(fs.Root);
        if (!root.Entry.IsDirectory) throw new ZarException($"{fs.Description}: root is not a directory");
        root.Parent = root;
        var hardlinks = new Dictionary<long, ErofsNode>();
        var stack = new Stack<ErofsNode>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            dir.Children = [];
            foreach (var e in fs.List(dir.Entry))
            {
                var name = ZarPath.Encode(e.Name);
                if (name.Length == 0 || name.Length > ErofsFormat.MaxNameLength || name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0)
                    throw new ZarNotSupportedException($"{plan.Where(e)}: name of {name.Length} bytes cannot be stored in EROFS (1..255 bytes)");
                ErofsNode node;
                if (e.Type == EntryType.Directory)
                {
                    node = new ErofsNode(e) { Parent = dir };
                    dir.Subdirs++;
                    stack.Push(node);
                }
                else if (e.Type == EntryType.Hardlink)
                    throw new ZarNotSupportedException($"{plan.Where(e)}: hardlink entries are not filesystem entries (resolve them first)");
                else if (e.Inode != 0 && hardlinks.TryGetValue(e.Inode, out var existing))
                    node = existing;
                else
                {
                    node = new ErofsNode(e);
                    if (e.Inode != 0) hardlinks[e.Inode] = node;
                }
                node.Names++;
                dir.Children.Add(new ErofsChild(name, node));
            }
            dir.Children.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        }
        root.Names = 1;
        plan.Root = root;
        OrderBreadthFirst(plan);
    }

    /// <summary>Breadth-first: siblings' inodes end up near each other and directory nids stay small.</summary>
    static void OrderBreadthFirst(ErofsPlan plan)
    {
        var nodes = plan.Nodes;
        var queue = new Queue<ErofsNode>();
        plan.Root.Order = 0;
        nodes.Add(plan.Root);
        queue.Enqueue(plan.Root);
        while (queue.Count > 0)
        {
            var dir = queue.Dequeue();
            foreach (var c in dir.Children!)
            {
                if (c.Node.Order >= 0) continue;
                c.Node.Order = nodes.Count;
                nodes.Add(c.Node);
                if (c.Node.Type == EntryType.Directory) queue.Enqueue(c.Node);
            }
        }
    }
}
