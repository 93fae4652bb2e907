using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// The extra devices of an image being written: checks what the options give, finds the device (and the
/// device address) of a file's bytes, and holds each device's slot once blocks are allocated.
/// </summary>
sealed class ErofsDeviceTable
{
    /// <summary>The device table sits right after the superblock: devt_slotoff 9 = byte 1152.</summary>
    public const int SlotOffset = (ErofsFormat.SuperblockOffset + ErofsFormat.SuperblockSize) / ErofsDeviceSlot.Size;

    public sealed class Device(ErofsDevice spec, int id)
    {
        public ErofsDevice Spec { get; } = spec;
        /// <summary>The device id chunk indexes carry (1-based; 0 is the image itself).</summary>
        public int Id { get; } = id;
        public long Length { get; init; }
        /// <summary>Device address of blob offset 0: the blob's place in its file for external devices (the
        /// mounted device is the whole file), 0 for embedded ones (the blob's bytes are the device).</summary>
        public long AddressBase { get; init; }
        public long Blocks { get; init; }
        public byte[] Tag { get; init; } = [];
        public string? FullPath { get; init; }
        public long FileOffset { get; init; }
        public long Alignment { get; init; }
        /// <summary>Where the device starts in the flat address space (set by the block allocator).</summary>
        public long MappedBlock { get; set; }
        public bool Embedded => Spec.Mode == ErofsDeviceMode.Embedded;

        public ErofsDeviceSlot Slot => new(Tag, (uint)Blocks, (uint)MappedBlock);
    }

    readonly Device[] _devices;
    readonly Dictionary<IBlob, Device> _byBlob = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<string, List<Device>> _byPath = new(StringComparer.Ordinal);

    public IReadOnlyList<Device> Devices => _devices;
    public int Count => _devices.Length;
    /// <summary>Bytes the table occupies after the superblock.</summary>
    public int TableBytes => _devices.Length * ErofsDeviceSlot.Size;

    public ErofsDeviceTable(IReadOnlyList<ErofsDevice> devices, ErofsGeometry g)
    {
        if (devices.Count > ushort.MaxValue - 1) throw new ZarNotSupportedException($"{devices.Count} EROFS devices: at most {ushort.MaxValue - 1}");
        _devices = new Device[devices.Count];
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            string what = $"EROFS device {i + 1} ({d.Blob.Description})";
            long length = d.Blob.Length;
            if (length < 0) throw new ZarException($"{what}: its length is not known");
            var tag = ZarPath.Encode(d.Tag);
            if (tag.Length > ErofsDeviceSlot.TagSize) throw new ZarException($"{what}: tag longer than {ErofsDeviceSlot.TagSize} bytes");
            long alignment = d.Alignment == 0 ? g.BlockSize : d.Alignment;
            if (alignment < 0 || alignment % g.BlockSize != 0) throw new ZarException($"{what}: alignment {d.Alignment} is not a multiple of the block size {g.BlockSize}");
            string? fullPath = null;
            long fileOffset = 0;
            if (d.Blob is ILocalFileBlob local)
            {
                fullPath = Path.GetFullPath(local.FilePath);
                fileOffset = local.FileOffset;
            }
            else if (d.Mode == ErofsDeviceMode.External)
                throw new ZarException($"{what}: an external device must be a local file (mounted with -o device=)");
            long addressBase = d.Mode == ErofsDeviceMode.External ? fileOffset : 0;
            var device = new Device(d, i + 1)
            {
                Length = length, AddressBase = addressBase, Blocks = g.BlocksFor(addressBase + length),
                Tag = tag, FullPath = fullPath, FileOffset = fileOffset, Alignment = alignment,
            };
            if (device.Blocks >= ErofsFormat.NullAddress) throw new ZarNotSupportedException($"{what}: too large for {g.BlockSize}-byte blocks");
            _devices[i] = device;
            _byBlob.TryAdd(d.Blob, device);
            if (fullPath != null)
            {
                if (!_byPath.TryGetValue(fullPath, out var list)) _byPath[fullPath] = list = [];
                list.Add(device);
            }
        }
    }

    /// <summary>
    /// The device holding a segment's bytes, and the device address of its first byte: the segment's
    /// blob is a device's blob, or a local file blob whose bytes lie inside a device's file window.
    /// </summary>
    public bool TryLocate(in FileSegment s, out Device device, out long address)
    {
        address = 0;
        if (_byBlob.TryGetValue(s.Blob, out device!))
        {
            if (s.BlobOffset > device.Length - s.Length) return false;
            address = device.AddressBase + s.BlobOffset;
            return true;
        }
        if (_byPath.Count > 0 && s.Blob is ILocalFileBlob local && _byPath.TryGetValue(Path.GetFullPath(local.FilePath), out var candidates))
        {
            long inFile = local.FileOffset + s.BlobOffset;
            foreach (var d in candidates)
            {
                long blobOffset = inFile - d.FileOffset;
                if (blobOffset < 0 || blobOffset > d.Length - s.Length) continue;
                device = d;
                address = d.AddressBase + blobOffset;
                return true;
            }
        }
        device = null!;
        return false;
    }
}
