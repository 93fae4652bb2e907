using Microsoft.Win32.SafeHandles;
using System.Runtime.InteropServices;
using Zar.Model;
using Zar.Native;

namespace Zar.Sources.Host;

/// <summary>
/// A host directory as a read-only filesystem: names as bytes, xattrs, devices, hardlink identity
/// (device + inode) and holes (SEEK_DATA/SEEK_HOLE) are all reported. Nothing is followed: symlinks
/// are entries, and a path is resolved component by component without following links. A file's data
/// is a segment of the file itself (<see cref="HostFileBlob"/>); open files are cached (bounded) so a
/// consumer reading a file in many pieces does not reopen it each time.
/// </summary>
public sealed unsafe class HostDirectory : IReadOnlyFileSystem
{
    readonly string _root;
    readonly int _rootFd;
    readonly Entry _rootEntry;
    readonly Dictionary<(uint, uint, ulong), long> _inodeIds = new();

    public string Description { get; }

    public HostDirectory(string path)
    {
        _root = Path.GetFullPath(path);
        Description = $"directory {path}";
        fixed (byte* p = Libc.Z(_root))
        {
            _rootFd = Libc.open(p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            if (_rootFd < 0) throw Libc.Error("cannot open directory", path, Libc.Errno);
        }
        _rootEntry = StatAt(_rootFd, "", "") ?? throw new ZarException($"{path}: cannot stat");
    }

    public Entry Root => _rootEntry;

    public Entry? Lookup(string path)
    {
        if (path.Length == 0) return _rootEntry;
        lock (_dirs)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int dirFd = DirFd(ZarPath.Parent(path), out bool missing);
            return missing ? null : StatAt(dirFd, ZarPath.Name(path), path);
        }
    }

    // Open directory descriptors by path, reused across calls: a walk touches each directory many
    // times (list, stat children, open files), and reopening every component each time dominated.
    readonly Dictionary<string, int> _dirs = new();
    readonly Queue<string> _dirOrder = new();
    const int MaxCachedDirs = 128;

    /// <summary>
    /// A descriptor for a directory, resolved component by component without following any symlink.
    /// Owned by the cache: callers must not close it, and must hold the _dirs lock while using it.
    /// </summary>
    int DirFd(string dirPath, out bool missing)
    {
        missing = false;
        if (dirPath.Length == 0) return _rootFd;
        if (_dirs.TryGetValue(dirPath, out int cached)) return cached;
        int parent = DirFd(ZarPath.Parent(dirPath), out missing);
        if (missing) return -1;
        int fd;
        fixed (byte* c = Libc.Z(ZarPath.Name(dirPath)))
            fd = Libc.openat(parent, c, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = Libc.Errno;
            if (e is Libc.ENOENT or Libc.ENOTDIR or Libc.ELOOP) { missing = true; return -1; }
            throw Libc.Error("cannot open directory", dirPath, e);
        }
        while (_dirOrder.Count >= MaxCachedDirs)
        {
            var old = _dirOrder.Dequeue();
            // Ancestors of the directory being opened may be evicted here; they are not used after this point.
            if (_dirs.Remove(old, out int oldFd)) Libc.close(oldFd);
        }
        _dirs[dirPath] = fd;
        _dirOrder.Enqueue(dirPath);
        return fd;
    }

    Entry? StatAt(int dirFd, string name, string path)
    {
        var z = Libc.Z(name);
        Libc.Statx st;
        fixed (byte* n = z)
        {
            if (Libc.statx(dirFd, n, Libc.AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? Libc.AT_EMPTY_PATH : 0), Libc.STATX_BASIC_STATS, out st) != 0)
            {
                int e = Libc.Errno;
                if (e is Libc.ENOENT or Libc.ENOTDIR) return null;
                throw Libc.Error("cannot stat", path, e);
            }
        }
        var type = Entry.TypeFromUnixMode(st.stx_mode);
        string? link = null;
        if (type == EntryType.Symlink) link = ReadLinkAt(dirFd, z, path);
        long inode = InodeId(st);
        // Fewer allocated blocks than the size: there are holes (where: GetData asks the file).
        bool sparse = type == EntryType.Regular && (long)st.stx_blocks * 512 < (long)st.stx_size;
        return new Entry
        {
            Path = path,
            Type = type,
            Mode = st.stx_mode & 0xFFFu,
            Uid = st.stx_uid,
            Gid = st.stx_gid,
            MtimeSeconds = st.stx_mtime.tv_sec,
            MtimeNanoseconds = st.stx_mtime.tv_nsec,
            Size = type == EntryType.Regular ? (long)st.stx_size : 0,
            LinkTarget = link,
            DevMajor = type is EntryType.CharDevice or EntryType.BlockDevice ? st.stx_rdev_major : 0,
            DevMinor = type is EntryType.CharDevice or EntryType.BlockDevice ? st.stx_rdev_minor : 0,
            Xattrs = ReadXattrs(dirFd, name, path),
            Inode = inode,
            LinkCount = type == EntryType.Directory ? 1 : st.stx_nlink,
            IsSparse = sparse,
        };
    }

    long InodeId(in Libc.Statx st)
    {
        var key = (st.stx_dev_major, st.stx_dev_minor, st.stx_ino);
        lock (_inodeIds)
        {
            if (!_inodeIds.TryGetValue(key, out long id)) _inodeIds[key] = id = _inodeIds.Count + 1;
            return id;
        }
    }

    static string ReadLinkAt(int dirFd, byte[] z, string path)
    {
        var buf = new byte[4096];
        while (true)
        {
            nint n;
            fixed (byte* p = z) fixed (byte* b = buf) n = Libc.readlinkat(dirFd, p, b, buf.Length);
            if (n < 0) throw Libc.Error("cannot read link", path, Libc.Errno);
            if (n < buf.Length) return ZarPath.Decode(buf.AsSpan(0, (int)n));
            buf = new byte[buf.Length * 2];
        }
    }

    IReadOnlyList<Xattr> ReadXattrs(int dirFd, string name, string path)
    {
        // The l*xattr calls take a path; /proc/self/fd/N/name resolves the parent through the
        // already-opened directory, so no component of the image path is followed.
        // For the directory itself "/." is needed: l*xattr on the bare /proc/self/fd/N would act on the magic link.
        var full = Libc.Z(name.Length == 0 ? $"/proc/self/fd/{dirFd}/." : $"/proc/self/fd/{dirFd}/{name}");
        fixed (byte* p = full)
        {
            nint size = Libc.llistxattr(p, null, 0);
            if (size <= 0) return Array.Empty<Xattr>();
            var list = new byte[size + 256];
            fixed (byte* l = list) size = Libc.llistxattr(p, l, list.Length);
            if (size <= 0) return Array.Empty<Xattr>();
            var result = new List<Xattr>();
            int start = 0;
            for (int i = 0; i < size; i++)
            {
                if (list[i] != 0) continue;
                var nameBytes = list.AsSpan(start, i - start).ToArray();
                start = i + 1;
                var value = GetXattr(p, nameBytes, path);
                if (value != null) result.Add(new Xattr(ZarPath.Decode(nameBytes), value));
            }
            result.Sort((a, b) => ZarPath.CompareNames(a.Name, b.Name));
            return result;
        }
    }

    static byte[]? GetXattr(byte* path, byte[] name, string display)
    {
        var zname = new byte[name.Length + 1];
        name.CopyTo(zname, 0);
        fixed (byte* n = zname)
        {
            while (true)
            {
                nint size = Libc.lgetxattr(path, n, null, 0);
                if (size < 0) return Libc.Errno == Libc.ENODATA ? null : throw Libc.Error("cannot read xattr", display, Libc.Errno);
                var value = new byte[size];
                fixed (byte* v = value)
                {
                    nint got = Libc.lgetxattr(path, n, v, size);
                    if (got >= 0 && got <= size) return got == size ? value : value[..(int)got];
                    if (Libc.Errno != Libc.ERANGE) throw Libc.Error("cannot read xattr", display, Libc.Errno);
                }
            }
        }
    }

    /// <summary>The data ranges of an open file (SEEK_DATA/SEEK_HOLE), bounded by the size seen at stat time.</summary>
    static List<DataExtent> FindExtents(SafeFileHandle file, string path, long size)
    {
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            int fd = (int)file.DangerousGetHandle();
            var extents = new List<DataExtent>();
            long pos = 0;
            while (pos < size)
            {
                long data = Libc.lseek(fd, pos, Libc.SEEK_DATA);
                if (data < 0 || data >= size) break; // ENXIO: only a hole remains
                long hole = Libc.lseek(fd, data, Libc.SEEK_HOLE);
                if (hole < 0) hole = size;
                extents.Add(new DataExtent(data, Math.Min(hole, size) - data));
                pos = hole;
            }
            return extents;
        }
        finally { if (added) file.DangerousRelease(); }
    }

    public IEnumerable<Entry> List(Entry directory)
    {
        lock (_dirs)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int dirFd = DirFd(directory.Path, out bool missing);
            if (missing) throw new ZarNotFoundException($"{Description}: no such directory: {ZarPath.Display(directory.Path)}");
            var names = ReadDirectoryNames(dirFd, directory.Path);
            names.Sort(ZarPath.NameComparer);
            var result = new List<Entry>(names.Count);
            foreach (var n in names)
            {
                var e = StatAt(dirFd, n, ZarPath.Join(directory.Path, n));
                if (e != null) result.Add(e);
            }
            return result;
        }
    }

    static List<string> ReadDirectoryNames(int dirFd, string path)
    {
        int fd;
        fixed (byte* dot = "."u8) fd = Libc.openat(dirFd, dot, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw Libc.Error("cannot open directory", path, Libc.Errno);
        nint dir = Libc.fdopendir(fd);
        if (dir == 0) { int e = Libc.Errno; Libc.close(fd); throw Libc.Error("cannot read directory", path, e); }
        var names = new List<string>();
        try
        {
            while (true)
            {
                nint d = Libc.readdir(dir);
                if (d == 0) break;
                // struct dirent (glibc, 64-bit): d_ino 8, d_off 8, d_reclen 2, d_type 1, d_name.
                byte* name = (byte*)d + 19;
                var span = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);
                if (span.SequenceEqual("."u8) || span.SequenceEqual(".."u8)) continue;
                names.Add(ZarPath.Decode(span));
            }
        }
        finally { Libc.closedir(dir); }
        return names;
    }

    public FileData GetData(Entry file)
    {
        if (file.Type != EntryType.Regular) throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: not a regular file");
        var blob = new HostFileBlob(this, file.Path);
        if (!file.IsSparse) return FileData.Contiguous(file.Size, blob, 0);
        var extents = WithFile(file.Path, h => FindExtents(h, file.Path, file.Size));
        return new FileData(file.Size, extents.Select(x => new FileSegment(x.Offset, x.Length, blob, x.Offset)));
    }

    public int Read(Entry file, long offset, Span<byte> destination)
    {
        if (offset >= file.Size || destination.Length == 0) return 0;
        int want = (int)Math.Min(destination.Length, file.Size - offset);
        return ReadFile(file.Path, offset, destination[..want]);
    }

    internal int ReadFile(string path, long offset, Span<byte> destination)
    {
        // A handle evicted from the cache by another thread between lookup and read is closed: open it again.
        for (int attempt = 0; ; attempt++)
        {
            var h = CachedFile(path);
            bool added = false;
            try
            {
                // pread itself: RandomAccess first asks the kernel whether the handle can seek (an lseek per file).
                h.DangerousAddRef(ref added);
                fixed (byte* b = destination)
                {
                    nint n;
                    do n = Libc.pread((int)h.DangerousGetHandle(), b, destination.Length, offset);
                    while (n < 0 && Libc.Errno == Libc.EINTR);
                    if (n < 0) throw new ZarException($"{Description}: cannot read {ZarPath.Display(path)}: {Libc.ErrorText(Libc.Errno)}");
                    return (int)n;
                }
            }
            catch (ObjectDisposedException) when (attempt == 0) { }
            finally { if (added) h.DangerousRelease(); }
        }
    }

    T WithFile<T>(string path, Func<SafeFileHandle, T> use)
    {
        for (int attempt = 0; ; attempt++)
        {
            var h = CachedFile(path);
            try { return use(h); }
            catch (ObjectDisposedException) when (attempt == 0) { }
        }
    }

    // Open files by path, least recently used evicted: FUSE and the writers read a file in many pieces.
    // Evicting disposes the SafeFileHandle; a read still in flight on it keeps the descriptor alive until it returns.
    readonly Dictionary<string, LinkedListNode<(string Path, SafeFileHandle Handle)>> _files = new(StringComparer.Ordinal);
    readonly LinkedList<(string Path, SafeFileHandle Handle)> _fileOrder = new();
    const int MaxCachedFiles = 64;

    SafeFileHandle CachedFile(string path)
    {
        lock (_files)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_files.TryGetValue(path, out var node))
            {
                _fileOrder.Remove(node);
                _fileOrder.AddFirst(node);
                return node.Value.Handle;
            }
            var handle = new SafeFileHandle(OpenFile(path), ownsHandle: true);
            _files[path] = _fileOrder.AddFirst((path, handle));
            while (_fileOrder.Count > MaxCachedFiles)
            {
                var last = _fileOrder.Last!;
                _fileOrder.RemoveLast();
                _files.Remove(last.Value.Path);
                last.Value.Handle.Dispose();
            }
            return handle;
        }
    }

    /// <summary>Opens a file for reading, never following a symlink in the path.</summary>
    internal int OpenFile(string path)
    {
        lock (_dirs)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int parent = DirFd(ZarPath.Parent(path), out bool missing);
            if (missing) throw new ZarNotFoundException($"{Description}: no such file: {ZarPath.Display(path)}");
            fixed (byte* n = Libc.Z(ZarPath.Name(path)))
            {
                int fd = Libc.openat(parent, n, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                if (fd < 0) throw Libc.Error("cannot open", path, Libc.Errno);
                return fd;
            }
        }
    }

    public IEnumerable<Entry> Walk() => FileSystemExtensions.DepthFirst(this);

    bool _disposed;

    public void Dispose()
    {
        lock (_files)
        {
            if (_disposed) return;
            foreach (var (_, h) in _fileOrder) h.Dispose();
            _files.Clear();
            _fileOrder.Clear();
            lock (_dirs)
            {
                _disposed = true;
                foreach (var fd in _dirs.Values) Libc.close(fd);
                _dirs.Clear();
                _dirOrder.Clear();
                Libc.close(_rootFd);
            }
        }
    }

    /// <summary>A host file as a blob: reads go through the directory's cache of open files.</summary>
    sealed class HostFileBlob(HostDirectory owner, string path) : ILocalFileBlob
    {
        public string Description => $"{owner.Description}: {ZarPath.Display(path)}";
        public string FilePath => Path.Combine(owner._root, path);
        public long FileOffset => 0;
        public long Length => -1;
        public int ReadAt(long offset, Span<byte> destination) => owner.ReadFile(path, offset, destination);
    }
}
