using System.Buffers.Binary;
using Zar.IO;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>The 128-byte EROFS superblock at byte 1024 (spec §2; the fields of the non-48-bit format).</summary>
public sealed record ErofsSuperblock
{
    // Field table:          offset size
    //   magic                    0   4   0xE0F5E1E2
    //   checksum                 4   4   crc32c of the superblock's block (see ComputeChecksum) when compat bit 0x1
    //   feature_compat           8   4
    //   blkszbits               12   1   9..12
    //   sb_extslots             13   1   0
    //   root_nid                14   2
    //   inos                    16   8
    //   build_time / epoch      24   8   the mtime of compact inodes
    //   build_time_nsec         32   4
    //   blocks                  36   4   primary device size in blocks
    //   meta_blkaddr            40   4   block that nid 0 is relative to
    //   xattr_blkaddr           44   4   shared xattr area
    //   uuid                    48  16
    //   volume_name             64  16   NUL-terminated
    //   feature_incompat        80   4
    //   u1                      84   2   compression only; 0
    //   extra_devices           86   2   device table slots (with INCOMPAT_DEVICE_TABLE)
    //   devt_slotoff            88   2   device table at devt_slotoff * 128
    //   dirblkbits              90   1   0
    //   xattr_prefix_count      91   1
    //   xattr_prefix_start      92   4
    //   packed_nid              96   8
    //   reserved               104  24   0
    public uint Checksum { get; init; }
    public uint FeatureCompat { get; init; }
    public byte BlockSizeBits { get; init; } = 12;
    public byte ExtSlots { get; init; }
    public ushort RootNid { get; init; }
    public ulong Inodes { get; init; }
    public long BuildTime { get; init; }
    public uint BuildTimeNanoseconds { get; init; }
    public uint Blocks { get; init; }
    public uint MetaBlockAddress { get; init; }
    public uint XattrBlockAddress { get; init; }
    public byte[] Uuid { get; init; } = new byte[16];
    /// <summary>Raw 16 bytes (NUL-terminated when shorter).</summary>
    public byte[] VolumeName { get; init; } = new byte[16];
    public uint FeatureIncompat { get; init; }
    public ushort ExtraDevices { get; init; }
    public ushort DeviceTableSlotOffset { get; init; }
    public byte DirBlockBits { get; init; }
    public byte XattrPrefixCount { get; init; }
    public uint XattrPrefixStart { get; init; }
    public ulong PackedNid { get; init; }
    /// <summary>Reader only: whether the stored checksum matched (null when the checksum feature is off).</summary>
    public bool? ChecksumValid { get; init; }

    public int BlockSize => 1 << BlockSizeBits;

    public string UuidText
    {
        get
        {
            var h = Convert.ToHexString(Uuid).ToLowerInvariant();
            return $"{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..]}";
        }
    }

    public string VolumeNameText
    {
        get
        {
            int n = Array.IndexOf(VolumeName, (byte)0);
            return ZarPath.Decode(VolumeName.AsSpan(0, n < 0 ? VolumeName.Length : n));
        }
    }

    internal static ErofsSuperblock Parse(ReadOnlySpan<byte> s) => new()
    {
        Checksum = BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
        FeatureCompat = BinaryPrimitives.ReadUInt32LittleEndian(s[8..]),
        BlockSizeBits = s[12],
        ExtSlots = s[13],
        RootNid = BinaryPrimitives.ReadUInt16LittleEndian(s[14..]),
        Inodes = BinaryPrimitives.ReadUInt64LittleEndian(s[16..]),
        BuildTime = (long)BinaryPrimitives.ReadUInt64LittleEndian(s[24..]),
        BuildTimeNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(s[32..]),
        Blocks = BinaryPrimitives.ReadUInt32LittleEndian(s[36..]),
        MetaBlockAddress = BinaryPrimitives.ReadUInt32LittleEndian(s[40..]),
        XattrBlockAddress = BinaryPrimitives.ReadUInt32LittleEndian(s[44..]),
        Uuid = s.Slice(48, 16).ToArray(),
        VolumeName = s.Slice(64, 16).ToArray(),
        FeatureIncompat = BinaryPrimitives.ReadUInt32LittleEndian(s[80..]),
        ExtraDevices = BinaryPrimitives.ReadUInt16LittleEndian(s[86..]),
        DeviceTableSlotOffset = BinaryPrimitives.ReadUInt16LittleEndian(s[88..]),
        DirBlockBits = s[90],
        XattrPrefixCount = s[91],
        XattrPrefixStart = BinaryPrimitives.ReadUInt32LittleEndian(s[92..]),
        PackedNid = BinaryPrimitives.ReadUInt64LittleEndian(s[96..]),
    };

    /// <summary>Writes the 128 superblock bytes (checksum field as stored in <see cref="Checksum"/>).</summary>
    internal void WriteTo(Span<byte> s)
    {
        s[..ErofsFormat.SuperblockSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(s, ErofsFormat.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(s[4..], Checksum);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], FeatureCompat);
        s[12] = BlockSizeBits;
        s[13] = ExtSlots;
        BinaryPrimitives.WriteUInt16LittleEndian(s[14..], RootNid);
        BinaryPrimitives.WriteUInt64LittleEndian(s[16..], Inodes);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], (ulong)BuildTime);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], BuildTimeNanoseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(s[36..], Blocks);
        BinaryPrimitives.WriteUInt32LittleEndian(s[40..], MetaBlockAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[44..], XattrBlockAddress);
        Uuid.AsSpan(0, 16).CopyTo(s[48..]);
        VolumeName.AsSpan(0, 16).CopyTo(s[64..]);
        BinaryPrimitives.WriteUInt32LittleEndian(s[80..], FeatureIncompat);
        BinaryPrimitives.WriteUInt16LittleEndian(s[86..], ExtraDevices);
        BinaryPrimitives.WriteUInt16LittleEndian(s[88..], DeviceTableSlotOffset);
        s[90] = DirBlockBits;
        s[91] = XattrPrefixCount;
        BinaryPrimitives.WriteUInt32LittleEndian(s[92..], XattrPrefixStart);
        BinaryPrimitives.WriteUInt64LittleEndian(s[96..], PackedNid);
    }

    /// <summary>Bytes the checksum covers from byte 1024: the rest of the superblock's block (a whole block when bs &lt;= 1024).</summary>
    internal static int ChecksumLength(int blockSize) =>
        blockSize > ErofsFormat.SuperblockOffset ? blockSize - ErofsFormat.SuperblockOffset : blockSize;

    /// <summary>
    /// The checksum over the superblock's block: bytes 1024..bs-1 (or 1024..2047 for bs &lt;= 1024)
    /// with the checksum field itself counted as zero. Linux's raw crc32c: seed ~0, no final inversion.
    /// </summary>
    internal static uint ComputeChecksum(ReadOnlySpan<byte> imageFromOffset1024, int blockSize)
    {
        int len = ChecksumLength(blockSize);
        ReadOnlySpan<byte> zeroChecksum = [0, 0, 0, 0];
        uint crc = Crc32C.Compute(imageFromOffset1024[..4]);
        crc = Crc32C.Compute(zeroChecksum, crc);
        return ~Crc32C.Compute(imageFromOffset1024[8..len], crc);
    }

    static readonly (uint Bit, string Name)[] CompatNames = [(0x1, "sb_csum"), (0x2, "mtime"), (0x4, "xattr_filter")];
    static readonly (uint Bit, string Name)[] IncompatNames =
    [
        (0x1, "0padding"), (0x2, "compr_cfgs"), (0x4, "chunked_file"), (0x8, "device_table"),
        (0x10, "ztailpacking"), (0x20, "fragments"), (0x40, "xattr_prefixes"), (0x80, "48bit"), (0x100, "metabox"),
    ];

    static string FeatureList(uint bits, (uint Bit, string Name)[] names)
    {
        var parts = new List<string>();
        foreach (var (bit, name) in names) if ((bits & bit) != 0) { parts.Add(name); bits &= ~bit; }
        if (bits != 0) parts.Add($"0x{bits:x}");
        return parts.Count == 0 ? "none" : string.Join(' ', parts);
    }

    /// <summary>Key/value lines for <c>zar inspect</c>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var list = new List<KeyValuePair<string, string>>();
        void Add(string k, string v) => list.Add(new(k, v));
        Add("format", "EROFS");
        Add("block size", BlockSize.ToString());
        Add("blocks", Blocks.ToString());
        Add("inodes", Inodes.ToString());
        Add("root nid", RootNid.ToString());
        Add("meta block address", MetaBlockAddress.ToString());
        Add("shared xattr block address", XattrBlockAddress.ToString());
        var t = DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(BuildTime, -62135596800L, 253402300799L));
        Add("build time", $"{t:yyyy-MM-dd'T'HH:mm:ss}.{BuildTimeNanoseconds:D9}Z ({BuildTime})");
        Add("uuid", UuidText);
        Add("volume name", VolumeNameText);
        Add("compat features", FeatureList(FeatureCompat, CompatNames));
        Add("incompat features", FeatureList(FeatureIncompat, IncompatNames));
        Add("checksum", ChecksumValid switch
        {
            null => $"0x{Checksum:x8} (not enabled)",
            true => $"0x{Checksum:x8} (ok)",
            false => $"0x{Checksum:x8} (MISMATCH)",
        });
        if (ExtraDevices != 0) Add("extra devices", ExtraDevices.ToString());
        return list;
    }
}
