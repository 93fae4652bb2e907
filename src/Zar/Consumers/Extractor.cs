using Zar.Model;
using Zar.Native;

namespace Zar.Consumers;

public sealed record ExtractOptions
{
    /// <summary>Replace non-directory entries that already exist in the target (default: error).</summary>
    public bool Overwrite { get; init; }
    /// <summary>chown every entry to the image's uid/gid. Null: only when running as root (others cannot).</summary>
    public bool? PreserveOwnership { get; init; }
    public bool PreserveXattrs { get; init; } = true;
    /// <summary>Apply the image root's mode, owner, xattrs and mtime to the target directory itself.</summary>
    public bool ApplyRootAttributes { get; init; } = true;
    /// <summary>
    /// Extract only these paths (normalized) and everything below them, at their full paths; missing
    /// parents are created with default attributes, as tar does for named members. Empty: everything.
    /// </summary>
    public IReadOnlyList<string> Paths { get; init; } = Array.Empty<string>();
    /// <summary>Refuse, before writing anything, a tree whose data or entries exceed these.</summary>
    public ExpansionLimits Limits { get; init; } = ExpansionLimits.Default;
}

public readonly record struct ExtractProgress(long Entries, long Bytes, string Path);

public sealed record ExtractSummary
{
    public long Entries { get; init; }
    public long Files { get; init; }
    public long Directories { get; init; }
    public long Symlinks { get; init; }
    public long Hardlinks { get; init; }
    public long Devices { get; init; }
    public long Fifos { get; init; }
    public long Sockets { get; init; }
    /// <summary>File data bytes written (holes excluded).</summary>
    public long Bytes { get; init; }
    /// <summary>Attributes an unprivileged run could not set (device nodes, trusted.* xattrs); empty as root.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();
}

/// <summary>
/// Writes any <see cref="IReadOnlyFileSystem"/> out as a host directory tree, entry types, holes,
/// hardlinks, ownership, modes, xattrs and nanosecond mtimes included.
/// Safety: the image is untrusted. Every path is resolved one component at a time from a descriptor
/// of the target directory with O_NOFOLLOW, and leaves are created with *at calls relative to their
/// parent's descriptor, so no symlink, "..", or absolute path in an image can make it write outside.
/// </summary>
public sealed unsafe class Extractor : IDisposable
{
    const int BufferSize = 1 << 20;
    const int DirFlags = Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;

    readonly IReadOnlyFileSystem _fs;
    readonly string _target;
    readonly ExtractOptions _options;
    readonly IProgress<ExtractProgress>? _progress;
    readonly bool _chown;
    readonly bool _privileged;
    readonly int _targetFd;
    // Open directories from the target down to the directory of the last entry; metadata of a
    // directory is applied when it is popped, after all of its children exist (post-order).
    readonly List<OpenDir> _stack = new();
    readonly Dictionary<long, string> _firstNameOfInode = new();
    readonly List<string> _warnings = new();
    byte[]? _buffer;
    long _entries, _files, _dirs, _symlinks, _hardlinks, _devices, _fifos, _sockets, _bytes;

    sealed record OpenDir(string Path, int Fd, Entry? Entry);

    public static ExtractSummary Extract(IReadOnlyFileSystem fs, string targetDir, ExtractOptions? options = null,
        IProgress<ExtractProgress>? progress = null)
    {
        using var x = new Extractor(fs, targetDir, options ?? new ExtractOptions(), progress);
        return x.Run();
    }

    Extractor(IReadOnlyFileSystem fs, string targetDir, ExtractOptions options, IProgress<ExtractProgress>? progress)
    {
        _fs = fs;
        _target = targetDir;
        _options = options;
        _progress = progress;
        _privileged = Libc.geteuid() == 0;
        _chown = options.PreserveOwnership ?? _privileged;
        try { Directory.CreateDirectory(targetDir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new ZarException($"{targetDir}: cannot create target directory: {e.Message}"); }
        fixed (byte* p = Libc.Z(Path.GetFullPath(targetDir)))
            _targetFd = Libc.open(p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (_targetFd < 0) throw new ZarException($"{targetDir}: cannot open target directory: {Libc.ErrorText(Libc.Errno)}");
    }

    ExtractSummary Run()
    {
        _options.Limits.Check(_fs, _options.Paths.Count == 0 ? null : e => _options.Paths.Any(p => IsSelfOrAncestor(p, e.Path)));
        Entry? root = null;
        foreach (var entry in _fs.Walk())
        {
            if (entry.Path.Length == 0) { root = entry; continue; }
            if (_options.Paths.Count > 0 && !_options.Paths.Any(p => IsSelfOrAncestor(p, entry.Path))) continue;
            Validate(entry);
            int parentFd = EnterParentOf(entry);
            ExtractEntry(entry, parentFd);
            _options.Limits.CheckEntries(_fs, ++_entries);
            _progress?.Report(new ExtractProgress(_entries, _bytes, entry.Path));
        }
        while (_stack.Count > 0) PopDirectory();
        if (root != null && _options.ApplyRootAttributes && _options.Paths.Count == 0) ApplyDirectoryAttributes(_targetFd, root);
        return new ExtractSummary
        {
            Entries = _entries, Files = _files, Directories = _dirs, Symlinks = _symlinks, Hardlinks = _hardlinks,
            Devices = _devices, Fifos = _fifos, Sockets = _sockets, Bytes = _bytes, Warnings = _warnings.ToArray(),
        };
    }

    void Validate(Entry entry)
    {
        if (!ZarPath.IsNormal(entry.Path))
            throw Refuse(entry, "path is absolute or contains '.', '..' or empty components");
        if (entry.Path.Contains('\0')) throw Refuse(entry, "path contains a NUL byte");
        if (entry.Type == EntryType.Hardlink &&
            (entry.LinkTarget is not { Length: > 0 } t || !ZarPath.IsNormal(t) || t.Contains('\0')))
            throw Refuse(entry, $"hardlink target {ZarPath.Display(entry.LinkTarget ?? "")} is not a path inside the image");
        if (entry.Type == EntryType.Symlink && (entry.LinkTarget is not { Length: > 0 } s || s.Contains('\0')))
            throw new ZarFormatException($"{_fs.Description}: {ZarPath.Display(entry.Path)}: symlink has an empty or invalid target");
    }

    ZarException Refuse(Entry entry, string why) =>
        new($"{_fs.Description}: entry {ZarPath.Display(entry.Path)}: {why}; refusing to extract it into {_target}");

    /// <summary>Makes the open-directory stack end at the entry's parent and returns the parent's descriptor.</summary>
    int EnterParentOf(Entry entry)
    {
        var parent = ZarPath.Parent(entry.Path);
        while (_stack.Count > 0 && !IsSelfOrAncestor(_stack[^1].Path, parent)) PopDirectory();
        string have = _stack.Count > 0 ? _stack[^1].Path : "";
        int fd = _stack.Count > 0 ? _stack[^1].Fd : _targetFd;
        if (have == parent) return fd;
        // The walk normally lists a directory before its children, so this runs only for
        // images that omit parents: create them like tar does, with default attributes.
        var rest = have.Length == 0 ? parent : parent[(have.Length + 1)..];
        foreach (var name in rest.Split('/'))
        {
            have = ZarPath.Join(have, name);
            int next = OpenChildDirectory(fd, name, entry, have, create: true);
            _stack.Add(new OpenDir(have, next, null));
            fd = next;
        }
        return fd;
    }

    static bool IsSelfOrAncestor(string ancestor, string path) =>
        ancestor.Length == 0 || path == ancestor || (path.Length > ancestor.Length && path[ancestor.Length] == '/' && path.StartsWith(ancestor, StringComparison.Ordinal));

    int OpenChildDirectory(int parentFd, string name, Entry entry, string dirPath, bool create)
    {
        var z = Libc.Z(name);
        fixed (byte* n = z)
        {
            int fd = Libc.openat(parentFd, n, DirFlags, 0);
            if (fd >= 0) return fd;
            int e = Libc.Errno;
            if (e == Libc.ENOENT && create)
            {
                if (Libc.mkdirat(parentFd, n, 0b111_101_101) != 0 && Libc.Errno != Libc.EEXIST)
                    throw Fail(entry, $"cannot create directory {ZarPath.Display(dirPath)}", Libc.Errno);
                fd = Libc.openat(parentFd, n, DirFlags, 0);
                if (fd >= 0) return fd;
                e = Libc.Errno;
            }
            if (e is Libc.ELOOP or Libc.ENOTDIR)
                throw Refuse(entry, $"{ZarPath.Display(dirPath)} is not a directory (a symlink or file) in the target");
            throw Fail(entry, $"cannot open directory {ZarPath.Display(dirPath)}", e);
        }
    }

    ZarException Fail(Entry entry, string what, int errno) =>
        new($"{_target}: {ZarPath.Display(entry.Path)}: {what}: {Libc.ErrorText(errno)}");

    void PopDirectory()
    {
        var top = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        try { if (top.Entry != null) ApplyDirectoryAttributes(top.Fd, top.Entry); }
        finally { Libc.close(top.Fd); }
    }

    void ExtractEntry(Entry entry, int parentFd)
    {
        var name = Libc.Z(entry.Name);
        if (entry.Type == EntryType.Directory)
        {
            fixed (byte* n = name)
            {
                if (Libc.mkdirat(parentFd, n, 0b111_000_000) != 0)
                {
                    int e = Libc.Errno;
                    if (e != Libc.EEXIST) throw Fail(entry, "cannot create directory", e);
                    // An existing directory is merged into; anything else in the way is replaced or refused.
                    if (!IsDirectoryAt(parentFd, n)) { RemoveExisting(entry, parentFd, n); CheckZero(Libc.mkdirat(parentFd, n, 0b111_000_000), entry, "cannot create directory"); }
                }
            }
            int fd = OpenChildDirectory(parentFd, entry.Name, entry, entry.Path, create: false);
            _stack.Add(new OpenDir(entry.Path, fd, entry));
            _dirs++;
            return;
        }

        if (entry.Type == EntryType.Hardlink) { Link(entry, entry.LinkTarget!, parentFd, name); return; }
        if (entry.Inode != 0)
        {
            if (_firstNameOfInode.TryGetValue(entry.Inode, out var first)) { Link(entry, first, parentFd, name); return; }
            _firstNameOfInode[entry.Inode] = entry.Path;
        }

        switch (entry.Type)
        {
            case EntryType.Regular: WriteFile(entry, parentFd, name); _files++; return;
            case EntryType.Symlink:
                fixed (byte* n = name) fixed (byte* t = Libc.Z(entry.LinkTarget!))
                {
                    if (Libc.symlinkat(t, parentFd, n) != 0)
                    {
                        if (Libc.Errno != Libc.EEXIST) throw Fail(entry, "cannot create symlink", Libc.Errno);
                        RemoveExisting(entry, parentFd, n);
                        CheckZero(Libc.symlinkat(t, parentFd, n), entry, "cannot create symlink");
                    }
                }
                ApplyAttributesAt(parentFd, name, entry);
                _symlinks++;
                return;
            case EntryType.CharDevice or EntryType.BlockDevice or EntryType.Fifo or EntryType.Socket:
                MakeNode(entry, parentFd, name);
                return;
            default:
                throw new ZarFormatException($"{_fs.Description}: {ZarPath.Display(entry.Path)}: unknown entry type {(int)entry.Type}");
        }
    }

    void MakeNode(Entry entry, int parentFd, byte[] name)
    {
        uint type = entry.Type switch
        {
            EntryType.CharDevice => Libc.S_IFCHR, EntryType.BlockDevice => Libc.S_IFBLK,
            EntryType.Fifo => Libc.S_IFIFO, _ => Libc.S_IFSOCK,
        };
        ulong dev = entry.Type is EntryType.CharDevice or EntryType.BlockDevice ? Libc.MakeDev(entry.DevMajor, entry.DevMinor) : 0;
        fixed (byte* n = name)
        {
            int rc = Libc.mknodat(parentFd, n, type | 0b110_000_000, dev);
            if (rc != 0 && Libc.Errno == Libc.EEXIST) { RemoveExisting(entry, parentFd, n); rc = Libc.mknodat(parentFd, n, type | 0b110_000_000, dev); }
            if (rc != 0)
            {
                int e = Libc.Errno;
                if (e == Libc.EPERM && !_privileged)
                {
                    Warn(entry, "device node not created (needs root)");
                    if (entry.Inode != 0) _firstNameOfInode.Remove(entry.Inode); // later names of it are skipped the same way
                    return;
                }
                throw Fail(entry, "cannot create node", e);
            }
        }
        ApplyAttributesAt(parentFd, name, entry);
        switch (entry.Type)
        {
            case EntryType.Fifo: _fifos++; break;
            case EntryType.Socket: _sockets++; break;
            default: _devices++; break;
        }
    }

    void Link(Entry entry, string existing, int parentFd, byte[] name)
    {
        int existingParent = OpenExistingDirectory(ZarPath.Parent(existing), entry);
        try
        {
            fixed (byte* o = Libc.Z(ZarPath.Name(existing))) fixed (byte* n = name)
            {
                // Flags 0: never follow a symlink named by the image; the link is to the entry itself.
                int rc = Libc.linkat(existingParent, o, parentFd, n, 0);
                if (rc != 0 && Libc.Errno == Libc.EEXIST) { RemoveExisting(entry, parentFd, n); rc = Libc.linkat(existingParent, o, parentFd, n, 0); }
                if (rc != 0) throw Fail(entry, $"cannot hardlink to {ZarPath.Display(existing)}", Libc.Errno);
            }
        }
        finally { if (existingParent != _targetFd) Libc.close(existingParent); }
        _hardlinks++;
    }

    int OpenExistingDirectory(string path, Entry entry)
    {
        if (path.Length == 0) return _targetFd;
        int fd = _targetFd;
        string have = "";
        foreach (var comp in path.Split('/'))
        {
            have = ZarPath.Join(have, comp);
            int next;
            try { next = OpenChildDirectory(fd, comp, entry, have, create: false); }
            finally { if (fd != _targetFd) Libc.close(fd); }
            fd = next;
        }
        return fd;
    }

    void WriteFile(Entry entry, int parentFd, byte[] name)
    {
        const int flags = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        int fd;
        fixed (byte* n = name)
        {
            fd = Libc.openat(parentFd, n, flags, 0b110_000_000);
            if (fd < 0 && Libc.Errno == Libc.EEXIST) { RemoveExisting(entry, parentFd, n); fd = Libc.openat(parentFd, n, flags, 0b110_000_000); }
            if (fd < 0) throw Fail(entry, "cannot create file", Libc.Errno);
        }
        try
        {
            _buffer ??= new byte[BufferSize];
            long written = 0;
            foreach (var x in _fs.GetExtents(entry))
            {
                if (x.Offset < 0 || x.Length < 0 || x.End > entry.Size)
                    throw new ZarFormatException($"{_fs.Description}: {ZarPath.Display(entry.Path)}: data extent [{x.Offset}, {x.End}) lies outside the file size {entry.Size}");
                long pos = x.Offset;
                while (pos < x.End)
                {
                    int want = (int)Math.Min(_buffer.Length, x.End - pos);
                    int got = _fs.ReadFully(entry, pos, _buffer.AsSpan(0, want));
                    if (got != want)
                        throw new ZarFormatException($"{_fs.Description}: {ZarPath.Display(entry.Path)}: short read at offset {pos + got} (file size {entry.Size})");
                    WriteAll(fd, _buffer, want, pos, entry);
                    pos += want;
                    _bytes += want;
                    _options.Limits.CheckBytes(_fs, _bytes);
                }
                written = Math.Max(written, x.End);
            }
            // Trailing holes (and files made only of holes) get their size from ftruncate.
            if (written != entry.Size && Libc.ftruncate(fd, entry.Size) != 0) throw Fail(entry, "cannot set file size", Libc.Errno);
            ApplyAttributesFd(fd, entry);
        }
        finally { Libc.close(fd); }
    }

    void WriteAll(int fd, byte[] buffer, int count, long offset, Entry entry)
    {
        fixed (byte* b = buffer)
        {
            int done = 0;
            while (done < count)
            {
                nint n = Libc.pwrite(fd, b + done, count - done, offset + done);
                if (n < 0) throw Fail(entry, "cannot write", Libc.Errno);
                done += (int)n;
            }
        }
    }

    bool IsDirectoryAt(int parentFd, byte* name) =>
        Libc.statx(parentFd, name, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out var st) == 0 && (st.stx_mode & 0xF000) == 0x4000;

    /// <summary>Something already has the entry's name: remove it when overwriting, otherwise refuse.</summary>
    void RemoveExisting(Entry entry, int parentFd, byte* name)
    {
        if (!_options.Overwrite) throw new ZarException($"{_target}: {ZarPath.Display(entry.Path)}: already exists (use overwrite to replace it)");
        if (Libc.unlinkat(parentFd, name, 0) == 0) return;
        int e = Libc.Errno;
        // An empty directory in the way of a non-directory can go; a populated one is not ours to delete.
        if (e == Libc.EISDIR && Libc.unlinkat(parentFd, name, Libc.AT_REMOVEDIR) == 0) return;
        if (e == Libc.EISDIR) e = Libc.Errno;
        throw Fail(entry, "cannot replace existing file", e);
    }

    void CheckZero(int rc, Entry entry, string what)
    {
        if (rc != 0) throw Fail(entry, what, Libc.Errno);
    }

    void Warn(Entry entry, string what)
    {
        if (_warnings.Count < 1000) _warnings.Add($"{ZarPath.Display(entry.Path)}: {what}");
    }

    // Order matters: chown clears setuid/setgid and file capabilities, so it comes first, then
    // chmod, then xattrs (security.capability), then the mtime, which every earlier step may touch.

    void ApplyAttributesFd(int fd, Entry entry)
    {
        if (_chown && Libc.fchown(fd, entry.Uid, entry.Gid) != 0) throw Fail(entry, "cannot chown", Libc.Errno);
        if (Libc.fchmod(fd, entry.Mode & 0xFFF) != 0) throw Fail(entry, "cannot chmod", Libc.Errno);
        if (_options.PreserveXattrs)
            foreach (var x in entry.Xattrs) SetXattr(entry, x, (n, v, len) => Libc.fsetxattr(fd, n, v, len, 0));
        var ts = Times(entry);
        if (Libc.futimens(fd, ts) != 0) throw Fail(entry, "cannot set mtime", Libc.Errno);
    }

    void ApplyDirectoryAttributes(int fd, Entry entry) => ApplyAttributesFd(fd, entry);

    /// <summary>For symlinks and nodes, which cannot be opened for writing: by name relative to the parent.</summary>
    void ApplyAttributesAt(int parentFd, byte[] name, Entry entry)
    {
        fixed (byte* n = name)
        {
            if (_chown && Libc.fchownat(parentFd, n, entry.Uid, entry.Gid, Libc.AT_SYMLINK_NOFOLLOW) != 0)
                throw Fail(entry, "cannot chown", Libc.Errno);
            // Linux symlinks have no mode of their own (always 0777).
            if (entry.Type != EntryType.Symlink && Libc.fchmodat(parentFd, n, entry.Mode & 0xFFF, 0) != 0)
                throw Fail(entry, "cannot chmod", Libc.Errno);
        }
        if (_options.PreserveXattrs && entry.Xattrs.Count > 0)
        {
            // l*xattr takes a path: /proc/self/fd/N resolves the parent through our descriptor and
            // the l-variant does not follow the leaf, so nothing outside the target is reachable.
            var path = Libc.Z($"/proc/self/fd/{parentFd}/{entry.Name}");
            fixed (byte* p = path)
            {
                byte* pp = p;
                foreach (var x in entry.Xattrs) SetXattr(entry, x, (n, v, len) => Libc.lsetxattr(pp, n, v, len, 0));
            }
        }
        var ts = Times(entry);
        fixed (byte* n = name)
            if (Libc.utimensat(parentFd, n, ts, Libc.AT_SYMLINK_NOFOLLOW) != 0) throw Fail(entry, "cannot set mtime", Libc.Errno);
    }

    delegate int XattrSetter(byte* name, byte* value, nint length);

    void SetXattr(Entry entry, Xattr x, XattrSetter set)
    {
        fixed (byte* n = Libc.Z(x.Name))
        fixed (byte* v = x.Value.Length == 0 ? new byte[1] : x.Value)
        {
            if (set(n, v, x.Value.Length) == 0) return;
            int e = Libc.Errno;
            // Linux refuses user.* on symlinks and device nodes even for root; other formats (tar) can carry them.
            if (e == Libc.EPERM && entry.Type is not (EntryType.Regular or EntryType.Directory) && x.Name.StartsWith("user.", StringComparison.Ordinal))
            {
                Warn(entry, $"xattr {ZarPath.Display(x.Name)} not set: Linux allows user.* xattrs only on files and directories");
                return;
            }
            // Unprivileged runs cannot set trusted.*/security.*, and some target filesystems store no
            // xattrs at all: a warning keeps extraction useful. Otherwise root must reproduce everything.
            if (e == Libc.ENOTSUP || (!_privileged && e is Libc.EPERM or Libc.EACCES))
            {
                Warn(entry, $"xattr {ZarPath.Display(x.Name)} not set: {Libc.ErrorText(e)}");
                return;
            }
            throw Fail(entry, $"cannot set xattr {ZarPath.Display(x.Name)}", e);
        }
    }

    Libc.Timespec* Times(Entry entry)
    {
        // Two timespecs (atime, mtime) in a buffer reused per call; atime is left as it is.
        _times[0] = new Libc.Timespec { tv_sec = 0, tv_nsec = Libc.UTIME_OMIT };
        _times[1] = new Libc.Timespec { tv_sec = entry.MtimeSeconds, tv_nsec = entry.MtimeNanoseconds };
        return (Libc.Timespec*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _times[0]);
    }

    readonly Libc.Timespec[] _times = GC.AllocateArray<Libc.Timespec>(2, pinned: true);

    public void Dispose()
    {
        foreach (var d in _stack) Libc.close(d.Fd);
        _stack.Clear();
        Libc.close(_targetFd);
    }
}
