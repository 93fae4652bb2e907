using System.Runtime.InteropServices;
using Zar.Model;
using static Zar.Fuse.FuseNative;

namespace Zar.Fuse;

// The request handlers: one method per opcode, each ending in exactly one reply (FORGET, BATCH_FORGET and
// INTERRUPT have none). A reader's exception becomes the request's errno in Dispatch.
public sealed unsafe partial class FuseServer
{
    const int BlockSize = 4096;
    const int W_OK = 2;
    /// <summary>The longest name the kernel accepts in a directory record (FUSE_NAME_MAX).</summary>
    const int MaxNameBytes = 1024;

    void Dispatch(Worker w, FuseInHeader* h, int length)
    {
        byte* arg = (byte*)(h + 1);
        int argLength = length - sizeof(FuseInHeader);
        try
        {
            switch (h->Opcode)
            {
                case FuseOpcode.Lookup: Lookup(w, h, arg, argLength); break;
                case FuseOpcode.Forget: _nodes.Forget(h->NodeId, ((FuseForgetIn*)arg)->NLookup); break;
                case FuseOpcode.BatchForget: BatchForget(arg, argLength); break;
                case FuseOpcode.GetAttr: GetAttr(w, h); break;
                case FuseOpcode.ReadLink: ReadLink(w, h); break;
                case FuseOpcode.Open: Open(w, h, (FuseOpenIn*)arg); break;
                case FuseOpcode.Read: Read(w, h, (FuseReadIn*)arg); break;
                case FuseOpcode.ReadDir: ReadDir(w, h, (FuseReadIn*)arg, plus: false); break;
                case FuseOpcode.ReadDirPlus: ReadDir(w, h, (FuseReadIn*)arg, plus: true); break;
                case FuseOpcode.GetXattr: GetXattr(w, h, arg, argLength); break;
                case FuseOpcode.ListXattr: ListXattr(w, h, (FuseGetXattrIn*)arg); break;
                case FuseOpcode.StatFs: StatFs(w, h); break;
                case FuseOpcode.LSeek: LSeek(w, h, (FuseLSeekIn*)arg); break;
                case FuseOpcode.Access:
                    // Only reached without default_permissions; nothing here is writable.
                    if ((((FuseAccessIn*)arg)->Mask & W_OK) != 0) w.ReplyError(h->Unique, EROFS);
                    else w.Reply(h->Unique, null, 0);
                    break;
                // No OPENDIR: the kernel then opens directories itself, caching their listings (FOPEN_CACHE_DIR).
                // No OPEN either, unless passthrough needs it: file opens cost no round trip and keep the page cache.
                case FuseOpcode.OpenDir: w.ReplyError(h->Unique, ENOSYS); break;
                case FuseOpcode.Release:
                case FuseOpcode.ReleaseDir:
                case FuseOpcode.Destroy:
                    w.Reply(h->Unique, null, 0);
                    break;
                case FuseOpcode.Interrupt:
                case FuseOpcode.NotifyReply:
                    // Every request is answered promptly, so an interrupt needs nothing; neither expects a reply.
                    break;
                case FuseOpcode.SetAttr:
                case FuseOpcode.Symlink:
                case FuseOpcode.MkNod:
                case FuseOpcode.MkDir:
                case FuseOpcode.Unlink:
                case FuseOpcode.RmDir:
                case FuseOpcode.Rename:
                case FuseOpcode.Rename2:
                case FuseOpcode.Link:
                case FuseOpcode.Write:
                case FuseOpcode.SetXattr:
                case FuseOpcode.RemoveXattr:
                case FuseOpcode.Create:
                case FuseOpcode.TmpFile:
                case FuseOpcode.FAllocate:
                case FuseOpcode.CopyFileRange:
                    w.ReplyError(h->Unique, EROFS);
                    break;
                default:
                    // FLUSH, FSYNC, locks, ioctl, poll, bmap, statx, syncfs: ENOSYS makes the kernel stop asking.
                    w.ReplyError(h->Unique, ENOSYS);
                    break;
            }
        }
        catch (Exception e)
        {
            if (h->Opcode is FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt or FuseOpcode.NotifyReply) return;
            int errno = ErrnoOf(e);
            if (errno != ENOENT)
            {
                var node = _nodes.Get(h->NodeId);
                Log($"{h->Opcode} {(node == null ? $"node {h->NodeId}" : ZarPath.Display("/" + node.Entry.Path))}: {e.Message} ({ErrorText(errno)})");
            }
            w.ReplyError(h->Unique, errno);
        }
    }

    /// <summary>The errno a reader's exception becomes: a damaged image is EIO, a missing file ENOENT.</summary>
    static int ErrnoOf(Exception e) => e switch
    {
        ZarNotFoundException => ENOENT,
        ZarNotSupportedException => EOPNOTSUPP,
        UnauthorizedAccessException => EACCES,
        _ => EIO,
    };

    bool TryNode(Worker w, FuseInHeader* h, out FuseNode node)
    {
        var n = _nodes.Get(h->NodeId);
        if (n != null)
        {
            node = n;
            return true;
        }
        // The kernel only names nodes it was given and has not forgotten: this is a bookkeeping slip.
        Log($"{h->Opcode}: unknown node {h->NodeId}");
        w.ReplyError(h->Unique, ESTALE);
        node = null!;
        return false;
    }

    static ReadOnlySpan<byte> CString(byte* p, int max)
    {
        var span = new ReadOnlySpan<byte>(p, Math.Max(0, max));
        int nul = span.IndexOf((byte)0);
        return nul >= 0 ? span[..nul] : span;
    }

    void Lookup(Worker w, FuseInHeader* h, byte* arg, int argLength)
    {
        if (!TryNode(w, h, out var parent)) return;
        if (!parent.Entry.IsDirectory)
        {
            w.ReplyError(h->Unique, ENOTDIR);
            return;
        }
        var name = ZarPath.Decode(CString(arg, argLength));
        var child = _fs.Lookup(parent.Entry, name);
        FuseEntryOut reply;
        if (child == null)
        {
            // Node id 0 with a timeout: the kernel remembers that the name does not exist (a negative dentry).
            reply = default;
            reply.EntryValid = Forever;
            w.Reply(h->Unique, &reply, sizeof(FuseEntryOut));
            return;
        }
        var node = _nodes.Remember(child, out ulong id);
        bool sent = false;
        try
        {
            FillEntry(&reply, id, node);
            sent = w.Reply(h->Unique, &reply, sizeof(FuseEntryOut));
        }
        finally
        {
            // The kernel counts only what it received.
            if (!sent) _nodes.Forget(id, 1);
        }
    }

    void BatchForget(byte* arg, int argLength)
    {
        var batch = (FuseBatchForgetIn*)arg;
        int fits = (argLength - sizeof(FuseBatchForgetIn)) / sizeof(FuseForgetOne);
        _nodes.Forget((FuseForgetOne*)(batch + 1), (int)Math.Min(batch->Count, (uint)Math.Max(0, fits)));
    }

    void GetAttr(Worker w, FuseInHeader* h)
    {
        if (!TryNode(w, h, out var node)) return;
        FuseAttrOut reply = default;
        reply.AttrValid = Forever;
        FillAttr(&reply.Attr, node);
        w.Reply(h->Unique, &reply, sizeof(FuseAttrOut));
    }

    void FillEntry(FuseEntryOut* e, ulong id, FuseNode node)
    {
        *e = default;
        e->NodeId = id;
        e->EntryValid = Forever;
        e->AttrValid = Forever;
        FillAttr(&e->Attr, node);
    }

    void FillAttr(FuseAttr* a, FuseNode node)
    {
        var e = node.Entry;
        a->Ino = (ulong)e.Inode;
        long size = e.Type switch
        {
            EntryType.Regular => e.Size,
            EntryType.Symlink => ZarPath.ByteCount(e.LinkTarget ?? ""),
            EntryType.Directory => BlockSize,
            _ => 0,
        };
        a->Size = (ulong)size;
        // du counts what is stored: a sparse file's holes take no blocks.
        long stored = e.Type switch
        {
            EntryType.Regular => e.IsSparse ? DataOf(node).StoredBytes : e.Size,
            EntryType.Directory => BlockSize,
            _ => 0,
        };
        a->Blocks = (ulong)((stored + BlockSize - 1) / BlockSize * (BlockSize / 512));
        a->Mtime = a->Atime = a->Ctime = (ulong)e.MtimeSeconds;
        a->MtimeNsec = a->AtimeNsec = a->CtimeNsec = e.MtimeNanoseconds;
        a->Mode = e.UnixMode;
        a->Nlink = Math.Max(1, e.LinkCount);
        a->Uid = e.Uid;
        a->Gid = e.Gid;
        // The kernel decodes rdev with new_decode_dev: minor's low byte, 12 bits of major, minor's high bits.
        a->Rdev = (e.DevMinor & 0xff) | ((e.DevMajor & 0xfff) << 8) | ((e.DevMinor & ~0xffu) << 12);
        a->BlkSize = BlockSize;
        a->Flags = 0;
    }

    FileData DataOf(FuseNode node) => node.Data ??= _fs.GetData(node.Entry);

    void ReadLink(Worker w, FuseInHeader* h)
    {
        if (!TryNode(w, h, out var node)) return;
        if (node.Entry.Type != EntryType.Symlink)
        {
            w.ReplyError(h->Unique, EINVAL);
            return;
        }
        var target = node.LinkTarget ??= ZarPath.Encode(node.Entry.LinkTarget ?? "");
        fixed (byte* p = target) w.Reply(h->Unique, p, target.Length);
    }

    void Read(Worker w, FuseInHeader* h, FuseReadIn* input)
    {
        if (!TryNode(w, h, out var node)) return;
        var e = node.Entry;
        if (!e.IsRegular)
        {
            w.ReplyError(h->Unique, e.IsDirectory ? EISDIR : EINVAL);
            return;
        }
        long offset = (long)Math.Min(input->Offset, long.MaxValue);
        int total = 0;
        if (offset < e.Size)
        {
            int want = (int)Math.Min(Math.Min(input->Size, (uint)ReplyBufferSize), e.Size - offset);
            var span = new Span<byte>(w.Data, want);
            // Through Read, not the blobs: readers that check what they serve (zar digests) check it there.
            while (total < want)
            {
                int n = _fs.Read(e, offset + total, span[total..]);
                if (n <= 0) break;
                total += n;
            }
        }
        // A short reply is end of file to the kernel.
        w.Send(h->Unique, 0, w.Data, total);
    }

    void ReadDir(Worker w, FuseInHeader* h, FuseReadIn* input, bool plus)
    {
        if (!TryNode(w, h, out var node)) return;
        if (!node.Entry.IsDirectory)
        {
            w.ReplyError(h->Unique, ENOTDIR);
            return;
        }
        var listing = node.Listing ??= ListDirectory(node.Entry);
        long count = listing.Children.Length + 2L;
        long index = (long)Math.Min(input->Offset, (ulong)count);
        int size = (int)Math.Min(input->Size, (uint)ReplyBufferSize);
        w.Counted.Clear();
        bool sent = false;
        try
        {
            int used = FillDirectory(w, node.Entry, listing, ref index, size, plus);
            sent = w.Send(h->Unique, 0, w.Data, used);
        }
        finally
        {
            // READDIRPLUS records count as look-ups only once the kernel has them.
            if (!sent) foreach (var id in w.Counted) _nodes.Forget(id, 1);
        }
        // Listed to the end: the kernel keeps the listing (FOPEN_CACHE_DIR), so let ours go.
        if (index >= count) node.Listing = null;
    }

    /// <summary>
    /// Writes directory records from <paramref name="index"/> on ("." and ".." first, then the children) into
    /// the worker's buffer until the next one does not fit; returns the bytes written. A record's offset is the
    /// index of the record after it, which is where the kernel asks to continue.
    /// </summary>
    int FillDirectory(Worker w, Entry dir, DirectoryListing listing, ref long index, int size, bool plus)
    {
        var children = listing.Children;
        long count = children.Length + 2L;
        byte* buf = w.Data;
        int used = 0;
        Span<byte> name = stackalloc byte[MaxNameBytes];
        for (; index < count; index++)
        {
            Entry? child = index >= 2 ? children[index - 2] : null;
            int nameLength;
            if (child == null)
            {
                nameLength = (int)index + 1; // "." then ".."
                name[0] = name[1] = (byte)'.';
            }
            else
            {
                nameLength = ZarPath.Encode(child.Name, name);
                if (nameLength <= 0)
                {
                    Log($"{ZarPath.Display("/" + child.Path)}: name longer than {MaxNameBytes} bytes, not listed");
                    continue;
                }
            }
            int record = (plus ? sizeof(FuseEntryOut) : 0) + sizeof(FuseDirent) + nameLength;
            int padded = (record + 7) & ~7;
            if (used + padded > size) break;
            byte* at = buf + used;
            FuseDirent* d;
            if (plus)
            {
                var entryOut = (FuseEntryOut*)at;
                if (child != null)
                {
                    var childNode = _nodes.Remember(child, out ulong id);
                    w.Counted.Add(id);
                    FillEntry(entryOut, id, childNode);
                }
                else *entryOut = default; // no node for "." and "..": the kernel keeps what it has
                d = (FuseDirent*)(at + sizeof(FuseEntryOut));
            }
            else d = (FuseDirent*)at;
            d->Ino = (ulong)(child?.Inode ?? (index == 0 ? dir.Inode : listing.ParentInode));
            d->Off = (ulong)(index + 1);
            d->NameLen = (uint)nameLength;
            d->Type = ((child?.UnixMode ?? 0x4000u) >> 12) & 0xF;
            name[..nameLength].CopyTo(new Span<byte>(d + 1, nameLength));
            new Span<byte>(at + record, padded - record).Clear();
            used += padded;
        }
        return used;
    }

    DirectoryListing ListDirectory(Entry dir)
    {
        var children = _fs.List(dir).ToArray();
        long parent = dir.Path.Length == 0 ? dir.Inode : _fs.Lookup(ZarPath.Parent(dir.Path))?.Inode ?? _fs.Root.Inode;
        return new DirectoryListing(children, parent);
    }

    void GetXattr(Worker w, FuseInHeader* h, byte* arg, int argLength)
    {
        if (!TryNode(w, h, out var node)) return;
        var input = (FuseGetXattrIn*)arg;
        var wanted = CString(arg + sizeof(FuseGetXattrIn), argLength - sizeof(FuseGetXattrIn));
        byte[]? value = null;
        foreach (var x in node.Entry.Xattrs)
            if (NameIs(x.Name, wanted)) { value = x.Value; break; }
        if (value == null)
        {
            w.ReplyError(h->Unique, ENODATA);
            return;
        }
        if (input->Size == 0)
        {
            var size = new FuseGetXattrOut { Size = (uint)value.Length };
            w.Reply(h->Unique, &size, sizeof(FuseGetXattrOut));
            return;
        }
        if (value.Length > input->Size)
        {
            w.ReplyError(h->Unique, ERANGE);
            return;
        }
        fixed (byte* v = value) w.Reply(h->Unique, v, value.Length);
    }

    /// <summary>Compares an xattr name with the requested bytes without encoding it (names are ASCII in practice).</summary>
    static bool NameIs(string name, ReadOnlySpan<byte> bytes)
    {
        if (name.Length == bytes.Length)
        {
            int i = 0;
            while (i < name.Length && name[i] < 0x80 && name[i] == bytes[i]) i++;
            if (i == name.Length) return true;
            if (name[i] < 0x80) return false;
        }
        else if (System.Text.Ascii.IsValid(name)) return false;
        return ZarPath.Encode(name).AsSpan().SequenceEqual(bytes);
    }

    void ListXattr(Worker w, FuseInHeader* h, FuseGetXattrIn* input)
    {
        if (!TryNode(w, h, out var node)) return;
        // As ext4 and overlayfs do, trusted.* names are listed only to the privileged.
        bool trusted = h->Uid == 0;
        int total = 0;
        var buf = new Span<byte>(w.Data, ReplyBufferSize);
        foreach (var x in node.Entry.Xattrs)
        {
            if (!trusted && x.Name.StartsWith("trusted.", StringComparison.Ordinal)) continue;
            int n = ZarPath.Encode(x.Name, buf[total..]);
            if (n < 0 || total + n + 1 > buf.Length)
            {
                w.ReplyError(h->Unique, E2BIG);
                return;
            }
            buf[total + n] = 0;
            total += n + 1;
        }
        if (input->Size == 0)
        {
            var size = new FuseGetXattrOut { Size = (uint)total };
            w.Reply(h->Unique, &size, sizeof(FuseGetXattrOut));
        }
        else if (total > input->Size) w.ReplyError(h->Unique, ERANGE);
        else w.Reply(h->Unique, w.Data, total);
    }

    void StatFs(Worker w, FuseInHeader* h)
    {
        var t = _totals.Value;
        int bsize = t.BlockSize > 0 ? t.BlockSize : BlockSize;
        FuseKStatFs reply = default;
        reply.Blocks = (ulong)((t.Bytes + bsize - 1) / bsize);
        reply.Files = (ulong)t.Entries;
        reply.BSize = (uint)bsize;
        reply.FrSize = (uint)bsize;
        reply.NameLen = 255;
        w.Reply(h->Unique, &reply, sizeof(FuseKStatFs));
    }

    /// <summary>SEEK_DATA and SEEK_HOLE over the file's segments (cp --sparse, tar -S find the holes).</summary>
    void LSeek(Worker w, FuseInHeader* h, FuseLSeekIn* input)
    {
        if (!TryNode(w, h, out var node)) return;
        var e = node.Entry;
        long offset = (long)Math.Min(input->Offset, long.MaxValue);
        if (!e.IsRegular || (input->Whence != SEEK_DATA && input->Whence != SEEK_HOLE))
        {
            w.ReplyError(h->Unique, EINVAL);
            return;
        }
        if (offset >= e.Size)
        {
            w.ReplyError(h->Unique, ENXIO);
            return;
        }
        var extents = e.IsSparse ? DataOf(node).Extents : [new DataExtent(0, e.Size)];
        long result = -1;
        if (input->Whence == SEEK_DATA)
        {
            foreach (var x in extents)
                if (x.End > offset && x.Length > 0) { result = Math.Max(offset, x.Offset); break; }
        }
        else
        {
            result = offset;
            foreach (var x in extents)
            {
                if (x.End <= result || x.Length == 0) continue;
                if (x.Offset > result) break;
                result = x.End;
            }
            result = Math.Min(result, e.Size);
        }
        if (result < 0)
        {
            w.ReplyError(h->Unique, ENXIO);
            return;
        }
        var reply = new FuseLSeekOut { Offset = (ulong)result };
        w.Reply(h->Unique, &reply, sizeof(FuseLSeekOut));
    }

    void Open(Worker w, FuseInHeader* h, FuseOpenIn* input)
    {
        if (!_passthrough)
        {
            w.ReplyError(h->Unique, ENOSYS);
            return;
        }
        if (!TryNode(w, h, out var node)) return;
        if ((input->Flags & 3) != O_RDONLY)
        {
            w.ReplyError(h->Unique, EROFS);
            return;
        }
        FuseOpenOut reply = default;
        int backing = node.Entry.IsRegular ? BackingFile(w, node) : -1;
        if (backing > 0)
        {
            reply.OpenFlags = FuseOpenFlags.Passthrough;
            reply.BackingId = backing;
        }
        else reply.OpenFlags = FuseOpenFlags.KeepCache;
        w.Reply(h->Unique, &reply, sizeof(FuseOpenOut));
    }
}
