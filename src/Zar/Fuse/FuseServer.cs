using System.Runtime.InteropServices;
using Zar.Model;

namespace Zar.Fuse;

public sealed class FuseServerOptions
{
    /// <summary>Threads serving requests, each on its own clone of the device (0: twice the processors, 4 to 16).</summary>
    public int Threads { get; init; }
    /// <summary>Let users other than the one who mounted see the files (mount option allow_other).</summary>
    public bool AllowOther { get; init; }
    /// <summary>The source the mount table shows.</summary>
    public string FsName { get; init; } = "zar";
    /// <summary>A writable directory: a kernel overlayfs with UPPER/upper and UPPER/work goes on top of the read-only mount.</summary>
    public string? WritableUpper { get; init; }
    /// <summary>FUSE_PASSTHROUGH (kernel 6.9+): reads of files whose bytes are a whole local file go to that file in the kernel.</summary>
    public bool Passthrough { get; init; }
    /// <summary>Read-ahead of the mount in KiB (0: the kernel's default).</summary>
    public int ReadAheadKb { get; init; } = 1024;
    /// <summary>Where to report reader errors turned into errnos and other trouble (null: nowhere).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>Counters of a running server.</summary>
/// <param name="AllocatedBytes">Managed bytes the serving threads have allocated (requests should not allocate: see the READ path).</param>
public readonly record struct FuseStatistics(long Requests, long Errors, int Nodes, int Threads, long AllocatedBytes, IReadOnlyDictionary<string, long> ByOpcode);

/// <summary>
/// A read-only FUSE server for any <see cref="IReadOnlyFileSystem"/>, speaking the kernel protocol over
/// /dev/fuse in managed code (no libfuse). <see cref="Mount"/> mounts, answers INIT and starts the worker
/// threads; each worker reads requests from its own clone of the device into its own pinned buffer and
/// answers each with one writev. Node ids are the entries' inode numbers; the image never changes, so
/// entries, attributes, directory listings, symlinks and file pages are cached by the kernel for good.
/// A reader's exception becomes an errno for that request (EIO for a damaged image), never the end of the
/// server. The server stops when the mount goes away (<see cref="Unmount"/>, <c>zar umount</c>, umount -l).
/// </summary>
public sealed unsafe partial class FuseServer : IDisposable
{
    /// <summary>Entries and attributes never expire: the image is immutable.</summary>
    const ulong Forever = 1_000_000_000;
    const int RequestBufferSize = 128 * 1024 + 4096;
    const int MaxPages = 256;
    const int ReplyBufferSize = MaxPages * 4096;

    readonly IReadOnlyFileSystem _fs;
    readonly FuseServerOptions _options;
    readonly FuseNodeTable _nodes;
    readonly Lazy<FileSystemTotals> _totals;
    readonly List<Worker> _workers = new();
    readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly string _fuseMountPoint;
    readonly string? _hiddenDir;
    int _deviceMajor, _deviceMinor;
    bool _passthrough;
    /// <summary>Our mount is at <see cref="MountPoint"/> (what Unmount may take away: never someone else's mount there).</summary>
    bool _visible;
    int _running;
    int _logged;
    bool _disposed;

    /// <summary>Where the tree is visible (the overlay's mount point when writable).</summary>
    public string MountPoint { get; }
    public IReadOnlyFileSystem FileSystem => _fs;
    /// <summary>Completes when every worker has stopped (the mount is gone or the connection was aborted).</summary>
    public Task Completion => _stopped.Task;
    /// <summary>True when the kernel accepted FUSE_PASSTHROUGH.</summary>
    public bool PassthroughEnabled => _passthrough;

    FuseServer(IReadOnlyFileSystem fs, string mountPoint, FuseServerOptions options, string fuseMountPoint, string? hiddenDir)
    {
        _fs = fs;
        _options = options;
        MountPoint = mountPoint;
        _fuseMountPoint = fuseMountPoint;
        _hiddenDir = hiddenDir;
        _nodes = new FuseNodeTable(fs.Root) { Dropped = ReleaseBackingFile };
        _totals = new Lazy<FileSystemTotals>(fs.GetTotals, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>
    /// Mounts <paramref name="fs"/> read-only at <paramref name="mountPoint"/> and serves it until the mount
    /// goes away. Needs root (mount(2)). The file system must outlive the server.
    /// </summary>
    public static FuseServer Mount(IReadOnlyFileSystem fs, string mountPoint, FuseServerOptions? options = null)
    {
        options ??= new FuseServerOptions();
        var target = Path.GetFullPath(mountPoint);
        // A mount whose server died fails every access that is not cached (ENOTCONN): mounting over it would
        // only hide it. statfs is never cached, so it tells.
        if (MountTable.At(target) is { FsType: KernelMounts.FuseType } && !KernelMounts.IsConnected(target))
            throw new ZarException($"{mountPoint}: a zar mount whose server is gone is in the way: zar umount {mountPoint} first");
        if (!Directory.Exists(target)) throw new ZarNotFoundException($"{mountPoint}: no such directory (the mount point must exist)");
        string fuseTarget = target;
        string? hidden = null;
        if (options.WritableUpper != null)
        {
            // The FUSE mount goes to a private directory and is detached once the overlay holds it, so the
            // overlay at the mount point is the only thing visible and unmounting it ends the server.
            hidden = Directory.CreateTempSubdirectory("zar-lower-").FullName;
            fuseTarget = hidden;
        }
        var server = new FuseServer(fs, target, options, fuseTarget, hidden);
        try
        {
            server.Start();
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    void Start()
    {
        int fd;
        if (FuseNative.geteuid() == 0)
        {
            fd = OpenDevice();
            _workers.Add(new Worker(this, fd));
            KernelMounts.MountFuse(fd, _fuseMountPoint, _options.FsName, _options.AllowOther);
        }
        else
        {
            if (_options.WritableUpper != null) throw new ZarException("--writable needs root (a kernel overlay mount)");
            fd = KernelMounts.MountFuseUnprivileged(_fuseMountPoint, _options.FsName, _options.AllowOther);
            _workers.Add(new Worker(this, fd));
        }
        _visible = _options.WritableUpper == null;
        var first = _workers[0];
        try
        {
            Initialize(first);
            if (MountTable.At(_fuseMountPoint) is { } m)
            {
                (_deviceMajor, _deviceMinor) = (m.Major, m.Minor);
                if (_options.ReadAheadKb > 0) KernelMounts.SetReadAhead(m.Major, m.Minor, _options.ReadAheadKb);
            }
            int threads = _options.Threads > 0 ? _options.Threads : Math.Clamp(Environment.ProcessorCount * 2, 4, 16);
            for (int i = 1; i < threads; i++)
            {
                // Without FUSE_DEV_IOC_CLONE (old kernels) the threads share one descriptor: still parallel, more contention.
                int clone = CloneDevice(fd);
                _workers.Add(clone >= 0 ? new Worker(this, clone) : new Worker(this, fd, ownsDevice: false));
            }
            _running = _workers.Count;
            foreach (var w in _workers) w.Start();
            if (_options.WritableUpper is { } upper)
            {
                var upperDir = Path.Combine(Path.GetFullPath(upper), "upper");
                var workDir = Path.Combine(Path.GetFullPath(upper), "work");
                Directory.CreateDirectory(upperDir);
                Directory.CreateDirectory(workDir);
                KernelMounts.MountOverlay(_fuseMountPoint, upperDir, workDir, MountPoint);
                _visible = true;
                KernelMounts.Detach(_fuseMountPoint);
                TryDeleteHidden();
            }
        }
        catch
        {
            // Our FUSE mount goes; the connection ends with it (threads see ENODEV) or when Dispose closes the device.
            KernelMounts.Detach(_fuseMountPoint);
            _visible = false;
            throw;
        }
    }

    static int OpenDevice()
    {
        fixed (byte* p = "/dev/fuse\0"u8)
        {
            int fd = FuseNative.open(p, FuseNative.O_RDWR | FuseNative.O_CLOEXEC, 0);
            if (fd >= 0) return fd;
            int errno = FuseNative.Errno;
            throw new ZarException($"/dev/fuse: cannot open: {FuseNative.ErrorText(errno)}" +
                (errno == FuseNative.ENOENT || errno == FuseNative.ENODEV ? " (is the fuse module loaded? modprobe fuse)" : ""));
        }
    }

    /// <summary>A second descriptor on the same connection: its own queue of requests being processed, no lock shared with the others.</summary>
    int CloneDevice(int fd)
    {
        int clone;
        // A user without root may not open /dev/fuse at all (fusermount3 did it for us).
        try { clone = OpenDevice(); }
        catch (ZarException) { return -1; }
        uint session = (uint)fd;
        if (FuseNative.ioctl(clone, FuseConstants.DevIocClone, &session) == 0) return clone;
        Log($"/dev/fuse: cannot clone the session ({FuseNative.ErrorText(FuseNative.Errno)}): threads share one descriptor");
        FuseNative.close(clone);
        return -1;
    }

    /// <summary>Reads and answers INIT, the first request of every connection.</summary>
    void Initialize(Worker w)
    {
        while (true)
        {
            int n = w.ReadRequest();
            if (n < 0) throw new ZarException($"{_fuseMountPoint}: the kernel closed the FUSE connection before INIT");
            var h = (FuseInHeader*)w.Request;
            if (h->Opcode != FuseOpcode.Init)
            {
                w.ReplyError(h->Unique, FuseNative.EIO);
                continue;
            }
            if (InitReply(w, h, n)) return;
        }
    }

    /// <summary>Negotiates the protocol; false when the kernel will send INIT again (it offered a newer major version).</summary>
    bool InitReply(Worker w, FuseInHeader* h, int length)
    {
        var init = (FuseInitIn*)(h + 1);
        var reply = default(FuseInitOut);
        reply.Major = FuseConstants.KernelVersion;
        reply.Minor = FuseConstants.KernelMinorVersion;
        if (init->Major > FuseConstants.KernelVersion)
        {
            w.Reply(h->Unique, &reply, 8);
            return false;
        }
        if (init->Major < FuseConstants.KernelVersion)
        {
            w.ReplyError(h->Unique, FuseNative.EPROTO);
            throw new ZarException($"the kernel speaks FUSE {init->Major}.{init->Minor}; zar needs 7.x");
        }
        ulong offered = init->Flags;
        if ((offered & FuseInitFlags.InitExt) != 0 && length >= sizeof(FuseInHeader) + sizeof(FuseInitIn)) offered |= (ulong)init->Flags2 << 32;
        ulong wanted = FuseInitFlags.AsyncRead | FuseInitFlags.ParallelDirops | FuseInitFlags.CacheSymlinks |
                       FuseInitFlags.DoReaddirplus | FuseInitFlags.MaxPages | FuseInitFlags.InitExt;
        if (_options.Passthrough) wanted |= FuseInitFlags.Passthrough;
        ulong flags = offered & wanted;
        _passthrough = (flags & FuseInitFlags.Passthrough) != 0;
        reply.Minor = Math.Min(init->Minor, FuseConstants.KernelMinorVersion);
        reply.MaxReadahead = init->MaxReadahead;
        reply.Flags = (uint)flags;
        reply.Flags2 = (uint)(flags >> 32);
        // Read-ahead and parallel readers keep several requests in flight per file.
        reply.MaxBackground = 64;
        reply.CongestionThreshold = 48;
        reply.MaxWrite = 64 * 1024;
        reply.TimeGran = 1;
        reply.MaxPages = MaxPages;
        reply.MaxStackDepth = _passthrough ? 1u : 0u;
        w.Reply(h->Unique, &reply, sizeof(FuseInitOut));
        return true;
    }

    /// <summary>Asks the kernel to unmount (detaching when busy); the workers stop when the connection ends.</summary>
    public UnmountResult Unmount()
    {
        if (!_visible) return UnmountResult.Unmounted;
        try { return KernelMounts.Unmount(MountPoint); }
        catch (ZarException) when (Completion.IsCompleted || MountTable.At(MountPoint) == null) { return UnmountResult.Unmounted; }
    }

    /// <summary>Ends the connection now: requests in flight and to come fail (ENOTCONN), the workers stop.</summary>
    public void Abort()
    {
        if (_deviceMinor != 0 && KernelMounts.AbortConnection(_deviceMinor)) return;
        // No fusectl: closing every descriptor of the connection aborts it too (once no read is in flight).
        foreach (var w in _workers) w.CloseDevice();
    }

    public FuseStatistics Statistics
    {
        get
        {
            long requests = 0, errors = 0, allocated = 0;
            var byOpcode = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var w in _workers)
            {
                requests += w.Requests;
                errors += w.Errors;
                allocated += Volatile.Read(ref w.Allocated);
                for (int op = 0; op < w.ByOpcode.Length; op++)
                    if (w.ByOpcode[op] > 0)
                    {
                        var name = ((FuseOpcode)op).ToString();
                        byOpcode[name] = byOpcode.GetValueOrDefault(name) + w.ByOpcode[op];
                    }
            }
            return new FuseStatistics(requests, errors, _nodes.Count, _workers.Count, allocated, byOpcode);
        }
    }

    void WorkerStopped()
    {
        if (Interlocked.Decrement(ref _running) != 0) return;
        // Every thread is out of read(2): the descriptors can go (not earlier: a shared one could be reused under a reader).
        foreach (var w in _workers) w.CloseDevice();
        _stopped.TrySetResult();
    }

    void Log(string message)
    {
        if (_options.Log == null || Interlocked.Increment(ref _logged) > 1000) return;
        try { _options.Log(message); } catch { }
    }

    void TryDeleteHidden()
    {
        if (_hiddenDir == null) return;
        try { Directory.Delete(_hiddenDir); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Unmounts if still mounted, waits for the workers (aborting the connection if they linger), and frees the buffers.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_running > 0 && !Completion.IsCompleted)
        {
            Unmount();
            if (!Completion.Wait(TimeSpan.FromSeconds(5)))
            {
                Abort();
                Completion.Wait(TimeSpan.FromSeconds(10));
            }
        }
        else if (_running == 0)
        {
            foreach (var w in _workers) w.CloseDevice();
        }
        if (Completion.IsCompleted || _running == 0)
            foreach (var w in _workers) w.Dispose();
        TryDeleteHidden();
    }

    /// <summary>One serving thread: its device descriptor and its pinned request and reply buffers, reused for every request.</summary>
    sealed class Worker : IDisposable
    {
        readonly FuseServer _server;
        readonly bool _ownsDevice;
        int _fd;
        Thread? _thread;
        public int Fd => _fd;
        public readonly byte* Request;
        public readonly byte* Data;
        /// <summary>Nodes counted for the READDIRPLUS reply being built (given back if it cannot be sent).</summary>
        public readonly List<ulong> Counted = new(1024);
        public long Requests, Errors, Allocated;
        public readonly long[] ByOpcode = new long[64];

        public Worker(FuseServer server, int fd, bool ownsDevice = true)
        {
            _server = server;
            _fd = fd;
            _ownsDevice = ownsDevice;
            Request = (byte*)NativeMemory.AlignedAlloc(RequestBufferSize, 4096);
            Data = (byte*)NativeMemory.AlignedAlloc(ReplyBufferSize, 4096);
        }

        public void Start()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "zar-fuse" };
            _thread.Start();
        }

        /// <summary>The next request's length, or -1 when the connection is gone.</summary>
        public int ReadRequest()
        {
            while (true)
            {
                nint n = FuseNative.read(_fd, Request, RequestBufferSize);
                if (n >= sizeof(FuseInHeader)) return (int)n;
                if (n >= 0) continue;
                int errno = FuseNative.Errno;
                // EINTR: a signal; ENOENT: the request was interrupted before we read it; EAGAIN: a spurious wake-up.
                if (errno is FuseNative.EINTR or FuseNative.ENOENT or FuseNative.EAGAIN) continue;
                // ENODEV: unmounted; ECONNABORTED/EBADF: aborted or closed.
                if (errno is not (FuseNative.ENODEV or FuseNative.ECONNABORTED or FuseNative.EBADF))
                    _server.Log($"reading /dev/fuse: {FuseNative.ErrorText(errno)}");
                return -1;
            }
        }

        void Run()
        {
            try
            {
                while (true)
                {
                    int n = ReadRequest();
                    if (n < 0) break;
                    Requests++;
                    uint op = (uint)((FuseInHeader*)Request)->Opcode;
                    if (op < (uint)ByOpcode.Length) ByOpcode[op]++;
                    _server.Dispatch(this, (FuseInHeader*)Request, n);
                    Volatile.Write(ref Allocated, GC.GetAllocatedBytesForCurrentThread());
                }
            }
            catch (Exception e)
            {
                _server.Log($"FUSE worker stopped: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                _server.WorkerStopped();
            }
        }

        /// <summary>Sends a header and up to two pieces of payload in one writev. False when the kernel no longer wants the reply.</summary>
        public bool Send(ulong unique, int error, void* a, int aLength, void* b = null, int bLength = 0)
        {
            FuseOutHeader header;
            header.Len = (uint)(sizeof(FuseOutHeader) + aLength + bLength);
            header.Error = -error;
            header.Unique = unique;
            var iov = stackalloc FuseNative.IoVec[3];
            iov[0] = new FuseNative.IoVec { Base = &header, Len = (nuint)sizeof(FuseOutHeader) };
            int count = 1;
            if (aLength > 0) iov[count++] = new FuseNative.IoVec { Base = a, Len = (nuint)aLength };
            if (bLength > 0) iov[count++] = new FuseNative.IoVec { Base = b, Len = (nuint)bLength };
            while (true)
            {
                if (FuseNative.writev(_fd, iov, count) >= 0) return true;
                int errno = FuseNative.Errno;
                if (errno == FuseNative.EINTR) continue;
                // ENOENT: the request was interrupted and is gone; anything else: the connection is.
                if (errno != FuseNative.ENOENT && errno != FuseNative.ENODEV) _server.Log($"writing a FUSE reply: {FuseNative.ErrorText(errno)}");
                return false;
            }
        }

        public bool Reply(ulong unique, void* payload, int length) => Send(unique, 0, payload, length);

        public bool ReplyError(ulong unique, int errno)
        {
            Errors++;
            return Send(unique, errno, null, 0);
        }

        public void CloseDevice()
        {
            int fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0 && _ownsDevice) FuseNative.close(fd);
        }

        public void Dispose()
        {
            CloseDevice();
            NativeMemory.AlignedFree(Request);
            NativeMemory.AlignedFree(Data);
        }
    }
}
