using Zar.Model;
using static Zar.Fuse.FuseNative;

namespace Zar.Fuse;

// FUSE_PASSTHROUGH (kernel 6.9+): a file whose bytes are exactly a whole local file is opened with a
// backing file, and the kernel reads (and maps) that file directly: no request per read at all.
public sealed unsafe partial class FuseServer
{
    /// <summary>The backing id of a node's file, registered on first open; -1 when its bytes are not one whole local file.</summary>
    int BackingFile(Worker w, FuseNode node)
    {
        if (node.BackingId != 0) return node.BackingId;
        lock (node)
        {
            if (node.BackingId != 0) return node.BackingId;
            node.BackingId = RegisterBackingFile(w, node);
            return node.BackingId;
        }
    }

    int RegisterBackingFile(Worker w, FuseNode node)
    {
        var e = node.Entry;
        var data = DataOf(node);
        if (data.Segments.Count != 1) return -1;
        var s = data.Segments[0];
        if (s.Offset != 0 || s.Length != e.Size || s.Blob is not ILocalFileBlob local || local.FileOffset + s.BlobOffset != 0) return -1;
        int fd;
        fixed (byte* p = Z(local.FilePath)) fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
        if (fd < 0) return -1;
        try
        {
            // Reads past the entry's size would reach the backing file's extra bytes: only an exact match passes through.
            if (new FileInfo(local.FilePath).Length != e.Size) return -1;
            var map = new FuseBackingMap { Fd = fd };
            int id = ioctl(w.Fd, FuseConstants.DevIocBackingOpen, &map);
            if (id > 0) return id;
            Log($"{ZarPath.Display("/" + e.Path)}: passthrough refused: {ErrorText(Errno)}");
            return -1;
        }
        finally { close(fd); }
    }

    /// <summary>Gives a forgotten node's backing file back to the kernel (open files keep their own reference).</summary>
    void ReleaseBackingFile(FuseNode node)
    {
        int id = node.BackingId;
        if (id <= 0 || _workers.Count == 0) return;
        uint backing = (uint)id;
        ioctl(_workers[0].Fd, FuseConstants.DevIocBackingClose, &backing);
    }
}
