using System.Collections.Concurrent;
using Zar.Model;

namespace Zar.Fuse;

/// <summary>
/// What the server knows about a file the kernel holds a reference to: the entry and, filled in on first
/// use, where its bytes are and (directories) the listing READDIR pages through. Entries are immutable, so
/// the lazily filled fields are set with a plain race: two threads may compute the same value, both are right.
/// </summary>
sealed class FuseNode(Entry entry)
{
    public readonly Entry Entry = entry;
    /// <summary>How many times the kernel was given this node (LOOKUP, READDIRPLUS) minus what it forgot. Under the table's lock.</summary>
    public ulong Lookups;
    public FileData? Data;
    public byte[]? LinkTarget;
    /// <summary>The directory's children and its parent's inode number, while a listing is being read.</summary>
    public DirectoryListing? Listing;
    /// <summary>Passthrough: the kernel's id of this file's backing file (0: none yet, -1: not possible).</summary>
    public int BackingId;
}

sealed class DirectoryListing(Entry[] children, long parentInode)
{
    public readonly Entry[] Children = children;
    public readonly long ParentInode = parentInode;
}

/// <summary>
/// The node ids handed to the kernel and their lookup counts, as the protocol requires: every LOOKUP or
/// READDIRPLUS reply that names a node counts one reference, FORGET gives them back, and a node with none
/// left is dropped (its id may come back later: it is the file's inode number, so it means the same file).
/// The node id is the entry's inode number, except that the root is 1 (FUSE_ROOT_ID) and a file whose inode
/// number is 1 takes the root's number instead. Reads of the table are lock-free; counting takes one lock.
/// </summary>
sealed class FuseNodeTable
{
    readonly ConcurrentDictionary<ulong, FuseNode> _nodes = new();
    readonly object _lock = new();
    readonly long _rootInode;

    /// <summary>Called (under the lock) for a node the kernel forgot entirely.</summary>
    public Action<FuseNode>? Dropped { get; set; }

    public FuseNodeTable(Entry root)
    {
        _rootInode = root.Inode;
        Root = new FuseNode(root) { Lookups = ulong.MaxValue / 2 };
        _nodes[FuseConstants.RootId] = Root;
    }

    public FuseNode Root { get; }

    public int Count => _nodes.Count;

    public ulong IdOf(Entry e) =>
        e.Inode == _rootInode ? FuseConstants.RootId : e.Inode == (long)FuseConstants.RootId ? (ulong)_rootInode : (ulong)e.Inode;

    public FuseNode? Get(ulong id) => _nodes.TryGetValue(id, out var n) ? n : null;

    /// <summary>Counts one reference the kernel is about to be given; returns the node (an existing one for a known inode).</summary>
    public FuseNode Remember(Entry e, out ulong id)
    {
        id = IdOf(e);
        if (id == FuseConstants.RootId) return Root;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var node))
            {
                node = new FuseNode(e);
                _nodes[id] = node;
            }
            node.Lookups++;
            return node;
        }
    }

    public void Forget(ulong id, ulong count)
    {
        if (id == FuseConstants.RootId) return;
        lock (_lock) ForgetLocked(id, count);
    }

    public unsafe void Forget(FuseForgetOne* items, int count)
    {
        lock (_lock)
            for (int i = 0; i < count; i++)
                if (items[i].NodeId != FuseConstants.RootId) ForgetLocked(items[i].NodeId, items[i].NLookup);
    }

    void ForgetLocked(ulong id, ulong count)
    {
        if (!_nodes.TryGetValue(id, out var node)) return;
        node.Lookups = node.Lookups > count ? node.Lookups - count : 0;
        if (node.Lookups != 0) return;
        _nodes.TryRemove(id, out _);
        Dropped?.Invoke(node);
    }

    /// <summary>Every node still remembered (for passthrough clean-up at the end).</summary>
    public IEnumerable<FuseNode> All => _nodes.Values;
}
