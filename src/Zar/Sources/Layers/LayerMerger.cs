using Zar.Model;
using Zar.Overlay;

namespace Zar.Sources.Layers;

/// <summary>
/// A file object of the tree being built. Every name (node) of a hardlinked file points at one
/// Inode, so a chmod through one name is seen through the others, and replacing or whiting out
/// one name leaves the others alone. File data is a reference into a layer, never bytes.
/// </summary>
sealed class Inode
{
    public EntryType Type;
    public uint Mode, Uid, Gid;
    public long MtimeSeconds;
    public uint MtimeNanoseconds;
    public long Size;
    public string? LinkTarget;
    public uint DevMajor, DevMinor;
    public IReadOnlyList<Xattr> Xattrs = Array.Empty<Xattr>();
    /// <summary>Where the file's bytes are in its layer's tar (regular files).</summary>
    public FileData Data = FileData.Empty;
    public bool IsSparse;
    /// <summary>Names of this file in the merged tree (hardlink group), for link counts and copy-up.</summary>
    public readonly List<Node> Names = new(1);

    public static Inode FromMember(LayerMember m)
    {
        var e = m.Entry;
        var inode = new Inode { Type = e.Type };
        inode.SetAttributes(e);
        if (e.Type == EntryType.Regular)
        {
            inode.Size = e.Size;
            inode.Data = m.Data;
            inode.IsSparse = e.IsSparse;
        }
        inode.LinkTarget = e.Type == EntryType.Symlink ? e.LinkTarget ?? "" : null;
        if (e.Type is EntryType.CharDevice or EntryType.BlockDevice) { inode.DevMajor = e.DevMajor; inode.DevMinor = e.DevMinor; }
        return inode;
    }

    public static Inode ImplicitDirectory() => new() { Type = EntryType.Directory, Mode = 0x1ED /* 0755 */ };

    /// <summary>Ownership, permissions, times and xattrs of a header (what a directory or hardlink header changes).</summary>
    public void SetAttributes(Entry e)
    {
        Mode = e.Mode & 0xFFF;
        Uid = e.Uid;
        Gid = e.Gid;
        MtimeSeconds = e.MtimeSeconds;
        MtimeNanoseconds = e.MtimeNanoseconds;
        Xattrs = e.Xattrs;
    }

    /// <summary>What a hardlink header changes on the file it links to: xattrs are added, never removed.</summary>
    public void SetLinkAttributes(Entry e)
    {
        var xattrs = Xattrs;
        SetAttributes(e);
        if (e.Xattrs.Count == 0) { Xattrs = xattrs; return; }
        var merged = xattrs.Where(x => e.GetXattr(x.Name) == null).Concat(e.Xattrs).ToList();
        merged.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
        Xattrs = merged;
    }

    public Entry ToEntry(string path, long id, uint linkCount) => new()
    {
        Path = path, Type = Type, Mode = Mode, Uid = Uid, Gid = Gid, MtimeSeconds = MtimeSeconds,
        MtimeNanoseconds = MtimeNanoseconds, Size = Type == EntryType.Regular ? Size : 0, LinkTarget = LinkTarget,
        DevMajor = DevMajor, DevMinor = DevMinor, Xattrs = Xattrs, Inode = id, LinkCount = linkCount,
        IsSparse = IsSparse,
    };
}

/// <summary>A name in a tree: the merged tree or one layer's upper tree.</summary>
sealed class Node(string name, Node? parent, Inode inode)
{
    public readonly string Name = name;
    public Node? Parent = parent;
    public Inode Inode = inode;
    public Dictionary<string, Node>? Children = inode.Type == EntryType.Directory ? new(StringComparer.Ordinal) : null;
    /// <summary>Layer that created this name (not merely changed its attributes).</summary>
    public int CreatedInLayer;

    // Upper-tree (single layer) bookkeeping.
    /// <summary>Whiteout entries of the layer in this directory, by the name they delete.</summary>
    public Dictionary<string, Entry>? Whiteouts;
    /// <summary>Names whose lower-layer content this layer removed (whiteout, replacement); an overlay
    /// lower directory must hide them (whiteout device or opaque directory).</summary>
    public HashSet<string>? HiddenLower;
    /// <summary>The layer's opaque marker for this directory, when it has one.</summary>
    public Entry? OpaqueMarker;

    public bool IsDirectory => Inode.Type == EntryType.Directory;

    public string Path
    {
        get
        {
            if (Parent == null) return "";
            var parts = new List<string>();
            for (var n = this; n.Parent != null; n = n.Parent) parts.Add(n.Name);
            parts.Reverse();
            return string.Join('/', parts);
        }
    }

    public Node? Child(string name) => Children != null && Children.TryGetValue(name, out var c) ? c : null;
}

/// <summary>What to do with a member whose name, or hardlink target, is absolute or climbs above the root with "..".</summary>
public enum UnsafePathPolicy
{
    /// <summary>containerd: ".." at the root stays at the root and a leading "/" is dropped, so the entry lands inside the tree (with a warning).</summary>
    Clamp,
    /// <summary>The whole layer is refused (moby refuses climbing names as a "breakout"; absolute names are refused too).</summary>
    Reject,
}

/// <summary>
/// Applies layers onto a tree the way containerd's applier does on a directory (OCI layer.md + d.2/d.4 of
/// the spec notes): per layer, opaque markers first, then whiteouts (so they only hit lower layers), then
/// the entries in tar order with parents resolved through symlinks bounded at the root.
/// Alongside, it records for each layer the "upper" tree: what an overlay upper directory for that layer
/// must hold so that stacking the uppers gives the merged tree (copied-up parents and hardlink targets).
/// </summary>
sealed class LayerMerger
{
    const int MaxSymlinkHops = 255;

    public readonly Node Root = new("", null, Inode.ImplicitDirectory());
    readonly UnsafePathPolicy _unsafe;
    readonly List<string> _warnings;

    int _layer;
    string _layerName = "";
    Node? _upperRoot;
    readonly Dictionary<Node, Node> _upperOf = new(ReferenceEqualityComparer.Instance);

    public LayerMerger(UnsafePathPolicy unsafePaths, List<string> warnings)
    {
        _unsafe = unsafePaths;
        _warnings = warnings;
        Root.Inode.Names.Add(Root);
    }

    /// <summary>Why a member's name or hardlink target is unsafe (absolute, or climbing above the root), or null.</summary>
    static string? UnsafeReason(LayerMember m)
    {
        if (Unsafe(m.RawName) is { } name) return $"has {name} name";
        if (m.Entry.Type == EntryType.Hardlink && m.RawLinkName != null && Unsafe(m.RawLinkName) is { } link)
            return $"is a hardlink to {link} path {ZarPath.Display(m.RawLinkName)}";
        return null;
    }

    static string? Unsafe(string raw) =>
        raw.StartsWith('/') ? "an absolute" : ZarPath.IsNormal(raw) || ZarPath.Normalize(raw) != null ? null : "a climbing ('..' above the root)";

    /// <summary>Applies one layer; returns the layer's upper tree root.</summary>
    public Node Apply(int layer, string layerName, IReadOnlyList<LayerMember> members)
    {
        _layer = layer;
        _layerName = layerName;
        _upperOf.Clear();
        _upperRoot = new Node("", null, Root.Inode);
        _upperOf[Root] = _upperRoot;

        foreach (var m in members)
        {
            if (UnsafeReason(m) is not { } why) continue;
            if (_unsafe == UnsafePathPolicy.Reject)
                throw new ZarFormatException($"{layerName}: member {ZarPath.Display(m.RawName)} {why} (a breakout, refused by --reject-unsafe-paths)");
            _warnings.Add($"{layerName}: member {ZarPath.Display(m.RawName)} {why}; kept inside as " +
                (m.Entry.Type == EntryType.Hardlink && m.RawLinkName != null && Unsafe(m.RawLinkName) != null
                    ? $"a hardlink to {ZarPath.Display(m.Entry.LinkTarget!)}" : ZarPath.Display(m.Entry.Path)));
        }

        // a. opaque markers, wherever they are in the tar: same-layer siblings before and after survive.
        foreach (var m in members)
        {
            if (m.Entry.Name != Whiteouts.OpaqueMarker) continue;
            // Markers and whiteouts below a path a layer turned into a file (umoci writes these) delete nothing and
            // do not turn the file back into a directory: containerd finds no directory there and moves on.
            if (ResolveDirectory(ZarPath.Parent(m.Entry.Path), create: true, keepNonDirectories: true) is not { } dir) continue;
            foreach (var child in dir.Children!.Values.ToList()) Remove(child);
            var upper = CopyUp(dir);
            upper.OpaqueMarker = m.Entry;
        }
        // b. whiteouts: delete from the lower layers only.
        foreach (var m in members)
        {
            var name = m.Entry.Name;
            if (!Whiteouts.IsReservedName(name) || name == Whiteouts.OpaqueMarker) continue;
            if (Whiteouts.AufsTarget(name) is not { } target)
            {
                _warnings.Add($"{layerName}: AUFS metadata {ZarPath.Display(m.RawName)} ignored");
                continue;
            }
            if (target.Length == 0 || target == "." || target == "..")
                throw new ZarFormatException($"{layerName}: invalid whiteout {ZarPath.Display(m.RawName)}");
            if (ResolveDirectory(ZarPath.Parent(m.Entry.Path), create: true, keepNonDirectories: true) is not { } dir) continue;
            var victim = dir.Child(target);
            if (victim != null) Remove(victim);
            var upper = CopyUp(dir);
            (upper.Whiteouts ??= new(StringComparer.Ordinal))[target] = m.Entry;
            (upper.HiddenLower ??= new(StringComparer.Ordinal)).Add(target);
        }
        // c. everything else, in tar order.
        foreach (var m in members)
        {
            var e = m.Entry;
            if (e.Path.Length == 0) continue; // "./": docker and containerd ignore the root's header
            if (Whiteouts.IsReservedName(e.Name)) continue;
            if (e.Type == EntryType.Socket) continue;
            var parent = ResolveParentDirectory(e.Path, create: true)!;
            var name = e.Name;
            var existing = parent.Child(name);

            if (e.Type == EntryType.Hardlink)
            {
                ApplyHardlink(m, parent, name, existing);
                continue;
            }
            if (e.Type == EntryType.Directory && existing is { IsDirectory: true })
            {
                existing.Inode.SetAttributes(e);
                CopyUp(existing);
                continue;
            }
            if (existing != null) Replace(parent, existing);
            var node = Attach(parent, name, Inode.FromMember(m));
            AttachUpper(node);
        }
        var result = _upperRoot;
        _upperRoot = null;
        _upperOf.Clear();
        return result;
    }

    void ApplyHardlink(LayerMember m, Node parent, string name, Node? existing)
    {
        var e = m.Entry;
        var targetPath = e.LinkTarget ?? "";
        Node? target = null;
        if (targetPath.Length > 0)
        {
            // Like containerd's hardlinkRootPath: the target's directory goes through symlinks, its last name does not.
            var tdir = ResolveParentDirectory(targetPath, create: false);
            target = tdir?.Child(ZarPath.Name(targetPath));
        }
        if (target == null)
            throw new ZarFormatException($"{_layerName}: hardlink {ZarPath.Display(m.RawName)} -> {ZarPath.Display(m.RawLinkName ?? targetPath)}: target does not exist");
        if (target.IsDirectory)
            throw new ZarFormatException($"{_layerName}: hardlink {ZarPath.Display(m.RawName)} -> {ZarPath.Display(m.RawLinkName ?? targetPath)}: target is a directory");
        if (ReferenceEquals(target, existing))
        {
            existing.Inode.SetLinkAttributes(e);
            CopyUpFile(existing.Inode);
            return;
        }
        if (existing != null) Replace(parent, existing);
        var inode = target.Inode;
        // containerd applies the hardlink header's ownership, mode and times to the shared inode, and sets its
        // xattrs without removing the file's others (a header without xattrs must not strip security.capability).
        inode.SetLinkAttributes(e);
        // An overlay upper can only link to a file it holds: copy the whole lower group up first.
        CopyUpFile(inode);
        var node = Attach(parent, name, inode);
        AttachUpper(node);
    }

    /// <summary>Removes a name that a new entry replaces; remembers that lower content there is gone.</summary>
    void Replace(Node parent, Node existing)
    {
        // A name created by this layer hid whatever lower content it replaced when it was created.
        bool fromLower = existing.CreatedInLayer < _layer;
        Remove(existing);
        if (fromLower)
        {
            var upperParent = CopyUp(parent);
            (upperParent.HiddenLower ??= new(StringComparer.Ordinal)).Add(existing.Name);
        }
    }

    Node Attach(Node parent, string name, Inode inode)
    {
        var node = new Node(name, parent, inode) { CreatedInLayer = _layer };
        parent.Children![name] = node;
        inode.Names.Add(node);
        return node;
    }

    /// <summary>Unlinks a name (and a directory's subtree) from the merged tree and from this layer's upper tree.</summary>
    void Remove(Node node)
    {
        if (node.Children != null)
            foreach (var c in node.Children.Values.ToList()) Remove(c);
        node.Inode.Names.Remove(node);
        node.Parent!.Children!.Remove(node.Name);
        if (_upperOf.Remove(node, out var upper)) upper.Parent?.Children?.Remove(upper.Name);
    }

    /// <summary>
    /// Resolves a directory path in the merged tree the way continuity's RootPath does: symlinks are followed
    /// (absolute ones re-rooted), ".." stops at the root. Missing directories (and non-directories in the way)
    /// become 0755 root directories when <paramref name="create"/> is set; otherwise null. With
    /// <paramref name="keepNonDirectories"/>, a non-directory in the way is kept and the result is null.
    /// </summary>
    Node? ResolveDirectory(string path, bool create, bool keepNonDirectories = false)
    {
        var stack = new List<Node> { Root };
        if (path.Length == 0) return Root;
        var pending = new List<string>(path.Split('/'));
        pending.Reverse();
        int hops = 0;
        while (pending.Count > 0)
        {
            var comp = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (comp.Length == 0 || comp == ".") continue;
            if (comp == "..") { if (stack.Count > 1) stack.RemoveAt(stack.Count - 1); continue; }
            var cur = stack[^1];
            var child = cur.Child(comp);
            if (child != null && child.Inode.Type == EntryType.Symlink)
            {
                if (++hops > MaxSymlinkHops) throw new ZarFormatException($"{_layerName}: too many levels of symbolic links resolving {ZarPath.Display(path)}");
                var target = child.Inode.LinkTarget ?? "";
                if (target.StartsWith('/')) stack.RemoveRange(1, stack.Count - 1);
                var parts = target.Split('/');
                for (int i = parts.Length - 1; i >= 0; i--) pending.Add(parts[i]);
                continue;
            }
            if (child == null || !child.IsDirectory)
            {
                if (!create || (child != null && keepNonDirectories)) return null;
                if (child != null) Replace(cur, child);
                child = Attach(cur, comp, Inode.ImplicitDirectory());
                AttachUpper(child);
            }
            stack.Add(child);
        }
        return stack[^1];
    }

    Node? ResolveParentDirectory(string path, bool create) => ResolveDirectory(ZarPath.Parent(path), create);

    // ---- upper tree ------------------------------------------------------------------

    /// <summary>The upper-tree node of a merged directory, creating it and its parents as copies of the lower
    /// directories (containerd copies parent attributes from the lower snapshots).</summary>
    Node CopyUp(Node merged)
    {
        if (_upperOf.TryGetValue(merged, out var upper)) return upper;
        var parentUpper = CopyUp(merged.Parent!);
        upper = new Node(merged.Name, parentUpper, merged.Inode);
        parentUpper.Children![merged.Name] = upper;
        _upperOf[merged] = upper;
        return upper;
    }

    /// <summary>Adds a name created by this layer to the upper tree.</summary>
    void AttachUpper(Node merged)
    {
        var parentUpper = CopyUp(merged.Parent!);
        var upper = new Node(merged.Name, parentUpper, merged.Inode);
        parentUpper.Children![merged.Name] = upper;
        _upperOf[merged] = upper;
    }

    /// <summary>Puts every name of a (possibly lower) file into the upper tree so an overlay upper can link to it.</summary>
    void CopyUpFile(Inode inode)
    {
        foreach (var name in inode.Names.ToList())
            if (!_upperOf.ContainsKey(name)) AttachUpperExisting(name);
    }

    void AttachUpperExisting(Node merged)
    {
        var parentUpper = CopyUp(merged.Parent!);
        var upper = new Node(merged.Name, parentUpper, merged.Inode);
        parentUpper.Children![merged.Name] = upper;
        _upperOf[merged] = upper;
    }
}

/// <summary>One member of a layer tar as the merger needs it: the entry, its raw names, and where its bytes are in the layer.</summary>
public sealed record LayerMember(Entry Entry, string RawName, string? RawLinkName, bool Escapes, FileData Data);
