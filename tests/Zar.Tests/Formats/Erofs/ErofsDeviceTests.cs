using Zar.Formats.Erofs;
using Zar.Blobs;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Sources;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>
/// Files pointed at extra devices instead of copied (the placement seam under tarfs): a metadata-only image
/// plus a device file (<c>mount -o device=</c>), and one file holding both (flat mode).
/// </summary>
public class ErofsDeviceTests
{
    /// <summary>A source whose regular files' bytes live where a map says (a device file), not where the inner reader keeps them.</summary>
    sealed class RepointedFileSystem(IReadOnlyFileSystem inner, Func<Entry, FileData?> map) : IReadOnlyFileSystem
    {
        public string Description => inner.Description;
        public Entry Root => inner.Root;
        public Entry? Lookup(string path) => inner.Lookup(path);
        public IEnumerable<Entry> List(Entry directory) => inner.List(directory);
        public FileData GetData(Entry file) => map(file) ?? inner.GetData(file);
        public int Read(Entry file, long offset, Span<byte> destination) => GetData(file).Read(offset, destination);
        public void Dispose() { }
    }

    /// <summary>
    /// Copies every regular file's data extents into a device file, each extent at a 512-byte boundary,
    /// except every fourth small file, which lands 100 bytes off (so it cannot be pointed at and must be copied).
    /// Returns the device, the source seen through it, and how many files can be pointed.
    /// </summary>
    static (FileBlob Device, RepointedFileSystem Source, int Pointable) PlaceInDevice(IReadOnlyFileSystem fs, string devicePath)
    {
        var placed = new Dictionary<long, (long Size, List<(long Offset, long Length, long At)> Extents)>();
        int index = 0, pointable = 0;
        using (var dev = new FileStream(devicePath, FileMode.Create))
        {
            foreach (var e in fs.Walk())
            {
                if (!e.IsRegular || placed.ContainsKey(e.Inode)) continue;
                bool misalign = e.Size < 100_000 && index++ % 4 == 3;
                var extents = new List<(long, long, long)>();
                foreach (var x in fs.GetExtents(e))
                {
                    long at = (dev.Length + 511) / 512 * 512 + (misalign ? 100 : 0);
                    var bytes = new byte[x.Length];
                    Assert.Equal(bytes.Length, fs.ReadFully(e, x.Offset, bytes));
                    dev.Position = at;
                    dev.Write(bytes);
                    extents.Add((x.Offset, x.Length, at));
                }
                if (!misalign && extents.Count > 0) pointable++;
                placed[e.Inode] = (e.Size, extents);
            }
            dev.SetLength((dev.Length + 4095) / 4096 * 4096);
        }
        var device = new FileBlob(devicePath);
        var data = placed.ToDictionary(p => p.Key, p => new FileData(p.Value.Size, p.Value.Extents.Select(x => new FileSegment(x.Offset, x.Length, device, x.At))));
        return (device, new RepointedFileSystem(fs, e => data[e.Inode]), pointable);
    }

    /// <summary>The all-types tree plus a sparse file, its data placed in tmp/dev by <see cref="PlaceInDevice"/>.</summary>
    sealed class PlacedTree : IDisposable
    {
        public required HostDirectory Host { get; init; }
        public required FileBlob Device { get; init; }
        public required IReadOnlyFileSystem Source { get; init; }
        public required int Pointable { get; init; }

        public static PlacedTree Create(TempDir tmp)
        {
            BuildTree(tmp["src"]);
            var host = new HostDirectory(tmp["src"]);
            var (device, source, pointable) = PlaceInDevice(host, tmp["dev"]);
            return new PlacedTree { Host = host, Device = device, Source = source, Pointable = pointable };
        }

        public void Dispose()
        {
            Device.Dispose();
            Host.Dispose();
        }
    }

    static void BuildTree(string src)
    {
        ErofsTrees.BuildAllTypes(src);
        Tools.Sh($$"""
            cd '{{src}}'
            truncate -s 3000000 sparse
            head -c 5000 /dev/urandom | dd of=sparse bs=4096 seek=300 conv=notrunc status=none
            head -c 8192 /dev/urandom | dd of=sparse bs=4096 seek=600 conv=notrunc status=none
            touch -d '2021-05-06 07:08:09' sparse .
            """);
    }

    /// <summary>
    /// fsck.erofs --extract (which reads every file through its chunks), the kernel's mount and our reader
    /// all see <paramref name="expected"/>. Device files are attached as loop devices for <c>-o device=</c>;
    /// none means flat mode. erofs-utils has no flat mode: a one-file disk is checked by fsck with the
    /// embedded device's bytes given as <paramref name="fsckDevices"/>.
    /// </summary>
    static void AssertImageShows(IReadOnlyFileSystem expected, TempDir tmp, string image, string[] devices, string[]? fsckDevices = null)
    {
        var fsck = ErofsUtils.Require("fsck.erofs");
        var r = Tools.Run(fsck, [.. (fsckDevices ?? devices).Select(d => "--device=" + d), "--extract", image]);
        Assert.True(r.Code == 0, $"fsck.erofs --extract failed: {r.Out}{r.Err}");
        var loops = devices.Select(LoopDevice.Attach).ToList();
        try
        {
            using var mount = Mount.Erofs(image, tmp[Path.GetFileName(image) + ".mnt"], loops.Select(l => l.Path));
            using var mounted = new HostDirectory(mount.Path);
            TreeComparer.AssertSame(expected, mounted);
        }
        finally { foreach (var l in loops) l.Dispose(); }
        using var reader = ErofsImage.Open(image, devices);
        TreeComparer.AssertSame(expected, reader);
    }

    [Fact]
    public void ExternalDeviceMetadataOnlyImageKernelWithDeviceFsckAndReaderMatchSource()
    {
        Tools.RequireRoot();
        using var tmp = new TempDir();
        using var placed = PlacedTree.Create(tmp);
        var (host, device, source, pointable) = (placed.Host, placed.Device, placed.Source, placed.Pointable);
        var result = ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(device, ErofsDeviceMode.External) { Tag = "the-device" }],
        });
        Assert.True(pointable > 10);
        Assert.Equal(pointable, result.PointedFiles);
        var slot = Assert.Single(result.Devices);
        Assert.Equal(new FileInfo(tmp["dev"]).Length / 512, slot.Blocks);
        // mkfs.erofs --tar=i maps the device right after the image, so appending it gives a flat disk.
        Assert.Equal(result.ImageSize / 512, slot.MappedBlockAddress);
        Assert.True(result.ImageSize < new FileInfo(tmp["dev"]).Length / 2, $"image {result.ImageSize} bytes: pointed data was copied");

        AssertImageShows(host, tmp, tmp["img"], [tmp["dev"]]);
        using (var image = ErofsImage.Open(tmp["img"], [tmp["dev"]]))
        {
            Assert.Equal("the-device", Assert.Single(image.Devices).TagText);
            Assert.Contains(image.Describe(), kv => kv.Key == "device 1" && kv.Value.Contains("tag the-device"));
        }
        // Without the device file our reader says what is missing, as the kernel needs device=.
        using (var image = ErofsImage.Open(tmp["img"]))
        {
            var pointed = ((IReadOnlyFileSystem)image).Walk().First(e => e.IsRegular && e.Size > 100000);
            var e = Assert.Throws<ZarNotSupportedException>(() => image.ReadAllBytes(pointed));
            Assert.Contains("give the device files", e.Message);
        }

        // cat image device > disk: one file, flat mode, no device= option.
        using (var disk = File.Create(tmp["disk"]))
        {
            using (var a = File.OpenRead(tmp["img"])) a.CopyTo(disk);
            using (var b = File.OpenRead(tmp["dev"])) b.CopyTo(disk);
        }
        AssertImageShows(host, tmp, tmp["disk"], [], fsckDevices: [tmp["dev"]]);
    }

    [Fact]
    public void EmbeddedDeviceOneFileKernelFsckAndReaderMatchSource()
    {
        Tools.RequireRoot();
        using var tmp = new TempDir();
        using var placed = PlacedTree.Create(tmp);
        var (host, device, source, pointable) = (placed.Host, placed.Device, placed.Source, placed.Pointable);
        var result = ErofsWriter.Write(source, tmp["disk"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(device, ErofsDeviceMode.Embedded) { Alignment = 512 * 1024 }],
        });
        Assert.Equal(pointable, result.PointedFiles);
        var slot = Assert.Single(result.Devices);
        Assert.Equal(0, slot.MappedBlockAddress * 512L % (512 * 1024));
        Assert.True(slot.MappedBlockAddress * 512L >= result.DataBlocks * 512, "the device follows the image's own data");
        Assert.Equal(result.ImageSize, new FileInfo(tmp["disk"]).Length);
        Assert.Equal(0, result.ImageSize % 4096);
        // The device's bytes are in the disk verbatim at its mapped block.
        var disk = File.ReadAllBytes(tmp["disk"]);
        var dev = File.ReadAllBytes(tmp["dev"]);
        Assert.True(disk.AsSpan((int)(slot.MappedBlockAddress * 512L), dev.Length).SequenceEqual(dev));

        AssertImageShows(host, tmp, tmp["disk"], [], fsckDevices: [tmp["dev"]]);
    }

    /// <summary>
    /// The tarfs shape: a GNU tar (long names, hard links, sparse members) whose file data is 512-aligned, so
    /// with 512-byte blocks every non-empty file points into the tar; embedded (one disk) and external (the
    /// tar on a loop device).
    /// </summary>
    [Fact]
    public void GnuTarFilesPointIntoTheTarEmbeddedAndExternal()
    {
        Tools.RequireRoot();
        using var tmp = new TempDir();
        BuildTree(tmp["src"]);
        // GNU tar skips sockets (with a warning) and stores no xattrs in --format=gnu.
        Tools.Sh($"cd '{tmp["src"]}' && rm sock && tar --format=gnu --sparse -cf '{tmp["layer.tar"]}' .");
        using var stack = SourceOpener.OpenStack("tar:" + tmp["layer.tar"]);
        var layer = stack.Merged;
        int files = ((IReadOnlyFileSystem)layer).Walk().Where(e => e.IsRegular && e.Size > 0).Select(e => e.Inode).Distinct().Count();
        Assert.True(((IReadOnlyFileSystem)layer).Lookup("sparse")!.IsSparse, "GNU sparse member");

        // Embedded: the layer's blob (the tar as the reader sees it) is the device; no file byte is copied.
        var embedded = ErofsWriter.Write(layer, tmp["layer.disk"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(stack.Blobs[0], ErofsDeviceMode.Embedded)],
        });
        Assert.Equal(files, embedded.PointedFiles);
        long tarBytes = new FileInfo(tmp["layer.tar"]).Length;
        Assert.True(embedded.ImageSize - tarBytes < tarBytes / 5, $"disk {embedded.ImageSize} bytes for a {tarBytes}-byte tar");
        AssertImageShows(layer, tmp, tmp["layer.disk"], [], fsckDevices: [tmp["layer.tar"]]);

        // External: the tar file itself is the device (its segments re-pointed at a file blob of the tar).
        using var tarBlob = new FileBlob(tmp["layer.tar"]);
        var viaFile = new RepointedFileSystem(layer, e =>
        {
            var d = layer.GetData(e);
            return new FileData(d.Size, d.Segments.Select(s => s with { Blob = tarBlob }));
        });
        var external = ErofsWriter.Write(viaFile, tmp["layer.meta"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(tarBlob, ErofsDeviceMode.External)],
        });
        Assert.Equal(files, external.PointedFiles);
        Assert.True(external.ImageSize < tarBytes / 5, $"metadata of {external.ImageSize} bytes for a {tarBytes}-byte tar");
        AssertImageShows(layer, tmp, tmp["layer.meta"], [tmp["layer.tar"]]);
    }

    /// <summary>
    /// The placement rule file by file (no kernel needed): pointed when every chunk is all hole or one
    /// block-aligned run on the device, otherwise copied, and in both cases read back exactly.
    /// </summary>
    [Fact]
    public void PlacementPointsOnlyWhatChunksCanAddressCopiesTheRest()
    {
        using var tmp = new TempDir();
        var bytes = new byte[1 << 20];
        new Random(5).NextBytes(bytes);
        File.WriteAllBytes(tmp["dev"], bytes);
        using var device = new FileBlob(tmp["dev"]);
        using var other = new FileBlob(tmp["dev"], 512, 4096, "a window of the same file");
        var cases = new (string Name, long Size, FileSegment[] Segments, bool Pointed, int? ChunkBits)[]
        {
            ("aligned", 5000, [new(0, 5000, device, 1024)], true, 4),                      // one chunk of 8 KiB = 512 << 4
            ("misaligned", 5000, [new(0, 5000, device, 1000)], false, null),
            ("exact-block", 512, [new(0, 512, device, 512)], true, 0),
            ("two-runs", 8192, [new(0, 4096, device, 0), new(4096, 4096, device, 65536)], true, 3),
            ("contiguous-segments", 3000, [new(0, 1000, device, 2048), new(1000, 2000, device, 3048)], true, 3),
            ("hole-then-data", 10000, [new(8192, 1808, device, 4096)], true, 4),
            ("hole-inside-a-chunk", 4096, [new(0, 100, device, 0), new(2048, 100, device, 2048)], false, null),
            ("odd-logical-offset", 4096, [new(700, 3396, device, 1024)], false, null),
            ("window-of-the-device-file", 3584, [new(0, 3584, other, 512)], true, 3),   // file offset 1024
            ("not-on-a-device", 100, [new(0, 100, new MemoryBlob(bytes.AsMemory(0, 100)), 0)], false, null),
            ("mixed-blobs", 2048, [new(0, 1024, device, 0), new(1024, 1024, new MemoryBlob(bytes.AsMemory(0, 1024)), 0)], false, null),
            ("empty", 0, [], false, null),
        };
        var fs = new MemoryFileSystem().Add(new Entry { Path = "", Type = EntryType.Directory, Mode = 0755 });
        var data = new Dictionary<string, FileData>();
        foreach (var c in cases)
        {
            var fd = new FileData(c.Size, c.Segments);
            var content = new byte[c.Size];
            fd.Read(0, content);
            fs.Add(new Entry { Path = c.Name, Type = EntryType.Regular, Mode = 0644, Size = c.Size }, content);
            data[c.Name] = fd;
        }
        var source = new RepointedFileSystem(fs, e => data.GetValueOrDefault(e.Path));
        var result = ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(device, ErofsDeviceMode.External)],
        });
        Assert.Equal(cases.Count(c => c.Pointed), result.PointedFiles);
        using var image = ErofsImage.Open(tmp["img"], [tmp["dev"]]);
        TreeComparer.AssertSame(source, image);
        foreach (var c in cases)
        {
            var e = image.Lookup(c.Name)!;
            var segments = image.GetData(e).Segments;
            bool onDevice = segments.Any(s => s.Blob.Description.Contains("EROFS device 1"));
            Assert.True(c.Pointed == onDevice, $"{c.Name}: pointed {onDevice}, expected {c.Pointed}");
            if (c.Pointed)
            {
                Assert.All(segments, s => Assert.Contains("EROFS device 1", s.Blob.Description));
                long chunk = 512L << c.ChunkBits!.Value;
                Assert.All(segments, s => Assert.True(s.Offset % chunk == 0, $"{c.Name}: segment at {s.Offset}, chunk {chunk}"));
            }
        }
    }

    [Fact]
    public void ExternalDeviceNotALocalFileClearError()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        using var host = new HostDirectory(tmp["src"]);
        var e = Assert.Throws<ZarException>(() => ErofsWriter.Write(host, tmp["img"], new ErofsWriterOptions
        {
            BlockSize = 512,
            Devices = [new ErofsDevice(new MemoryBlob(new byte[512]), ErofsDeviceMode.External)],
        }));
        Assert.Contains("local file", e.Message);
        Assert.False(File.Exists(tmp["img"]));
    }
}
