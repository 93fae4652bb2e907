using System.Buffers.Binary;
using System.Security.Cryptography;
using Zar.Model;

namespace Zar.Formats.Erofs;

/// <summary>
/// Writes a planned image front to back through one <see cref="ErofsImageSink"/>: the metadata blocks
/// (superblock, device table, inode records), the shared xattr area, directory, symlink and copied file
/// blocks in inode order, embedded devices, and the zero padding to the image's end.
/// </summary>
static class ErofsEmitter
{
    const int CopyBufferSize = 1 << 20;

    public static ErofsWriteResult Emit(ErofsPlan plan, Stream output)
    {
        var g = plan.Geometry;
        int bs = g.BlockSize;
        var sb = Superblock(plan, Uuid(plan));
        var sink = new ErofsImageSink(output, plan.Options.Progress, plan.Options.Observer);
        var meta = new ErofsMetadataWriter(sink, sb, g);

        if (plan.Devices.Count > 0)
        {
            var table = new byte[plan.Devices.TableBytes];
            for (int i = 0; i < plan.Devices.Count; i++) plan.Devices.Devices[i].Slot.Write(table.AsSpan(i * ErofsDeviceSlot.Size));
            meta.Write((long)ErofsDeviceTable.SlotOffset * ErofsDeviceSlot.Size, table);
        }
        var byPos = plan.Nodes.ToArray();
        Array.Sort(byPos, (a, b) => a.Pos.CompareTo(b.Pos));
        var record = new byte[bs];
        foreach (var n in byPos)
        {
            int len = n.RecordLength;
            if (record.Length < len) record = new byte[len];
            BuildRecord(plan, n, record.AsSpan(0, len));
            meta.Write(n.Pos, record.AsSpan(0, len));
        }
        meta.FinishThrough(plan.MetaBlocks);

        if (plan.SharedXattrBytes > 0)
        {
            var area = new byte[g.Bytes(plan.XattrBlocks)];
            int off = 0;
            foreach (var s in plan.SharedXattrs) off += ErofsXattrEntry.Write(area.AsSpan(off), s.Index, s.Suffix, s.Value);
            sink.Write(area);
        }

        var buffer = new byte[CopyBufferSize];
        foreach (var n in plan.Nodes)
        {
            if (n.DataBlocks == 0) continue;
            if (sink.Position != g.Bytes(n.StartBlock)) throw new InvalidOperationException("EROFS writer: data out of place");
            switch (n.Type)
            {
                case EntryType.Directory:
                    for (int b = 0; b < n.DataBlocks; b++) { buffer.AsSpan(0, bs).Clear(); BuildDirBlock(n, b, buffer); sink.Write(buffer.AsSpan(0, bs)); }
                    break;
                case EntryType.Symlink:
                    int blockBytes = (int)g.Bytes(n.DataBlocks);
                    buffer.AsSpan(0, blockBytes).Clear();
                    n.LinkTarget!.CopyTo(buffer, 0);
                    sink.Write(buffer.AsSpan(0, blockBytes));
                    break;
                default:
                    if (n.Inode.Layout == ErofsLayout.ChunkBased)
                    {
                        long cs = (long)bs << n.ChunkBits;
                        foreach (long k in n.StoredChunks!)
                            CopyData(plan, n, k * cs, Math.Min(cs, n.Size - k * cs), sink, buffer);
                    }
                    else CopyData(plan, n, 0, Math.Min(n.Size, g.Bytes(n.DataBlocks)), sink, buffer);
                    break;
            }
        }
        if (sink.Position != g.Bytes(plan.DataEnd)) throw new InvalidOperationException("EROFS writer: size mismatch");

        foreach (var d in plan.Devices.Devices)
        {
            if (!d.Embedded) continue;
            sink.WriteZeros(g.Bytes(d.MappedBlock) - sink.Position);
            CopyDevice(d, sink, buffer);
            sink.WriteZeros(g.Bytes(d.MappedBlock + d.Blocks) - sink.Position);
        }
        sink.WriteZeros(g.Bytes(plan.ImageBlocks) - sink.Position);
        sink.Flush();

        long compact = plan.Nodes.Count(n => !n.Inode.Extended);
        return new ErofsWriteResult(sink.Position, plan.ImageBlocks, plan.Nodes.Count, compact, plan.Nodes.Count - compact,
            plan.MetaBlocks, plan.DataEnd - plan.DataStart, plan.BuildTime, plan.BuildTimeNanoseconds, sb.UuidText)
        {
            BlockSize = bs,
            PointedFiles = plan.PointedFiles,
            PointedBytes = plan.PointedBytes,
            Devices = plan.Devices.Devices.Select(d => d.Slot).ToArray(),
        };
    }

    static byte[] Uuid(ErofsPlan plan)
    {
        if (plan.Options.Uuid is { } u)
        {
            if (u.Length != 16) throw new ZarException("EROFS uuid must be 16 bytes");
            return u;
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> b = stackalloc byte[48];
        foreach (var n in plan.Nodes)
        {
            var e = n.Entry;
            BinaryPrimitives.WriteInt64LittleEndian(b, n.Nid);
            BinaryPrimitives.WriteUInt32LittleEndian(b[8..], n.Inode.Mode);
            BinaryPrimitives.WriteUInt32LittleEndian(b[12..], e.Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(b[16..], e.Gid);
            BinaryPrimitives.WriteInt64LittleEndian(b[20..], e.MtimeSeconds);
            BinaryPrimitives.WriteUInt32LittleEndian(b[28..], e.MtimeNanoseconds);
            BinaryPrimitives.WriteInt64LittleEndian(b[32..], n.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(b[40..], n.Inode.U);
            BinaryPrimitives.WriteUInt32LittleEndian(b[44..], n.Inode.Nlink);
            hash.AppendData(b);
            hash.AppendData(ZarPath.Encode(e.Path));
            hash.AppendData([0]);
        }
        var h = hash.GetHashAndReset().AsSpan(0, 16).ToArray();
        h[6] = (byte)((h[6] & 0x0F) | 0x50); // name-based (SHA) UUID shape
        h[8] = (byte)((h[8] & 0x3F) | 0x80);
        return h;
    }

    static ErofsSuperblock Superblock(ErofsPlan plan, byte[] uuid)
    {
        var volume = new byte[16];
        if (plan.Options.VolumeName is { } v)
        {
            var b = ZarPath.Encode(v);
            if (b.Length > 15) throw new ZarException($"EROFS volume name \"{v}\" is longer than 15 bytes");
            b.CopyTo(volume, 0);
        }
        bool devices = plan.Devices.Count > 0;
        return new ErofsSuperblock
        {
            FeatureCompat = ErofsFormat.CompatSbChecksum | ErofsFormat.CompatMtime,
            BlockSizeBits = (byte)plan.Geometry.BlockSizeBits,
            RootNid = (ushort)plan.Root.Nid,
            Inodes = (ulong)plan.Nodes.Count,
            BuildTime = plan.BuildTime,
            BuildTimeNanoseconds = plan.BuildTimeNanoseconds,
            Blocks = (uint)plan.ImageBlocks,
            MetaBlockAddress = 0,
            XattrBlockAddress = (uint)plan.XattrBlock,
            Uuid = uuid,
            VolumeName = volume,
            FeatureIncompat = (plan.AnyChunked ? ErofsFormat.IncompatChunkedFile : 0) | (devices ? ErofsFormat.IncompatDeviceTable : 0),
            ExtraDevices = (ushort)plan.Devices.Count,
            DeviceTableSlotOffset = devices ? (ushort)ErofsDeviceTable.SlotOffset : (ushort)0,
        };
    }

    /// <summary>Copies a byte range of a file, zero-padded to whole blocks.</summary>
    static void CopyData(ErofsPlan plan, ErofsNode n, long offset, long length, ErofsImageSink sink, byte[] buffer)
    {
        int bs = plan.BlockSize;
        long done = 0;
        while (done < length)
        {
            int want = (int)Math.Min(buffer.Length, length - done);
            int got = plan.Source.ReadFully(n.Entry, offset + done, buffer.AsSpan(0, want));
            if (got != want) throw new ZarException($"{plan.Where(n.Entry)}: file shrank while being read ({offset + done + got} of {n.Size} bytes)");
            done += got;
            if (done == length)
            {
                int pad = (int)((bs - length % bs) % bs);
                int inBuf = got + pad;
                if (inBuf <= buffer.Length)
                {
                    buffer.AsSpan(got, pad).Clear();
                    sink.Write(buffer.AsSpan(0, inBuf));
                    return;
                }
                sink.Write(buffer.AsSpan(0, got));
                sink.WriteZeros(pad);
                return;
            }
            sink.Write(buffer.AsSpan(0, got));
        }
    }

    /// <summary>An embedded device's bytes: one forward pass when the blob offers it, else positional reads.</summary>
    static void CopyDevice(ErofsDeviceTable.Device d, ErofsImageSink sink, byte[] buffer)
    {
        var blob = d.Spec.Blob;
        long done = 0;
        if (blob is ISequentialBlob sequential)
        {
            using var s = sequential.OpenSequential();
            while (done < d.Length)
            {
                int n = s.Read(buffer, 0, (int)Math.Min(buffer.Length, d.Length - done));
                if (n <= 0) break;
                sink.Write(buffer.AsSpan(0, n));
                done += n;
            }
        }
        else
        {
            while (done < d.Length)
            {
                int n = blob.ReadAt(done, buffer.AsSpan(0, (int)Math.Min(buffer.Length, d.Length - done)));
                if (n <= 0) break;
                sink.Write(buffer.AsSpan(0, n));
                done += n;
            }
        }
        if (done != d.Length) throw new ZarFormatException($"{blob.Description}: ends at {done}, {d.Length} bytes expected");
    }

    static void BuildRecord(ErofsPlan plan, ErofsNode n, Span<byte> rec)
    {
        rec.Clear();
        n.Inode.WriteTo(rec);
        int off = n.Inode.InodeSize;
        if (n.XattrBodySize > 0) off += ErofsSharedXattrs.WriteBody(n, rec[off..]);
        if (n.TailLength > 0)
        {
            var tail = rec.Slice(off, n.TailLength);
            long tailOffset = plan.Geometry.Bytes(n.DataBlocks);
            switch (n.Type)
            {
                case EntryType.Regular:
                    int got = plan.Source.ReadFully(n.Entry, tailOffset, tail);
                    if (got != tail.Length) throw new ZarException($"{plan.Where(n.Entry)}: file shrank while being read");
                    break;
                case EntryType.Directory:
                    var block = new byte[plan.BlockSize];
                    BuildDirBlock(n, (int)n.DataBlocks, block);
                    block.AsSpan(0, tail.Length).CopyTo(tail);
                    break;
                case EntryType.Symlink:
                    n.LinkTarget.CopyTo(tail);
                    break;
            }
        }
        else if (n.Inode.Layout == ErofsLayout.ChunkBased)
        {
            var entries = rec[n.ChunkEntriesOffset..];
            if (n.PointedChunks is { } pointed)
            {
                for (int k = 0; k < pointed.Length; k++) pointed[k].Write(entries[(k * ErofsChunkIndex.Size)..]);
                return;
            }
            long block = n.StartBlock;
            long cs = (long)plan.BlockSize << n.ChunkBits;
            int s = 0;
            var stored = n.StoredChunks!;
            for (long k = 0; k < n.ChunkCount; k++)
            {
                var entry = new ErofsBlockMapEntry(ErofsFormat.NullAddress);
                if (s < stored.Length && stored[s] == k)
                {
                    entry = new ErofsBlockMapEntry((uint)block);
                    block += plan.Geometry.BlocksFor(Math.Min(cs, n.Size - k * cs));
                    s++;
                }
                entry.Write(entries[(int)(k * ErofsBlockMapEntry.Size)..]);
            }
        }
    }

    static void BuildDirBlock(ErofsNode dir, int blockIndex, Span<byte> block)
    {
        var all = dir.Dirents!;
        var starts = dir.DirBlockStarts!;
        int first = starts[blockIndex], end = blockIndex + 1 < starts.Length ? starts[blockIndex + 1] : all.Length;
        int count = end - first;
        int nameOff = count * ErofsDirent.Size;
        for (int i = 0; i < count; i++)
        {
            var c = all[first + i];
            new ErofsDirent((ulong)c.Node.Nid, (ushort)nameOff, ErofsDirent.FileTypeOf(c.Node.Type)).Write(block[(i * ErofsDirent.Size)..]);
            c.Name.CopyTo(block[nameOff..]);
            nameOff += c.Name.Length;
        }
    }
}
