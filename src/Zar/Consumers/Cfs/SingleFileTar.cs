using Zar.IO;
using System.Buffers.Binary;
using System.Text;
using Zar.Model;

namespace Zar.Consumers.Cfs;

/// <summary>
/// A tar archive holding exactly one regular file at its root, as an OCI layer for a CFS image: a ustar
/// header (mode 0644, owner 0:0, a fixed mtime), the file's bytes, padding, and the end-of-archive blocks.
/// Built from the header and the file without copying the file anywhere, so its digest and its upload
/// stream cost one read of the file each.
/// </summary>
public static class SingleFileTar
{
    public const int BlockSize = 512;
    const int TrailerSize = 2 * BlockSize;

    /// <summary>Total archive size for a member of <paramref name="fileSize"/> bytes.</summary>
    public static long ArchiveSize(long fileSize) => BlockSize + Padded(fileSize) + TrailerSize;

    static long Padded(long size) => (size + BlockSize - 1) / BlockSize * BlockSize;

    /// <summary>The 512-byte ustar header. Sizes of 8 GiB and more use the base-256 form GNU tar and Go's archive/tar read.</summary>
    public static byte[] Header(string name, long size, long mtimeSeconds)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100) throw new ZarException($"{name}: name longer than 100 bytes does not fit a ustar header");
        if (size < 0) throw new ArgumentOutOfRangeException(nameof(size));
        var h = new byte[BlockSize];
        nameBytes.CopyTo(h, 0);
        Octal(h.AsSpan(100, 8), 0x1A4);   // mode 0644
        Octal(h.AsSpan(108, 8), 0);       // uid
        Octal(h.AsSpan(116, 8), 0);       // gid
        if (size < (1L << 33)) Octal(h.AsSpan(124, 12), size);
        else
        {
            h[124] = 0x80;
            BinaryPrimitives.WriteInt64BigEndian(h.AsSpan(128, 8), size);
        }
        Octal(h.AsSpan(136, 12), Math.Clamp(mtimeSeconds, 0, (1L << 33) - 1));
        h[156] = (byte)'0';
        "ustar\0"u8.CopyTo(h.AsSpan(257));
        "00"u8.CopyTo(h.AsSpan(263));
        // The checksum is computed with its own field read as spaces.
        h.AsSpan(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (var b in h) sum += b;
        Octal(h.AsSpan(148, 7), sum);
        h[155] = (byte)' ';
        return h;
    }

    /// <summary>Zero-padded octal digits followed by a NUL, filling the field.</summary>
    static void Octal(Span<byte> field, long value)
    {
        int digits = field.Length - 1;
        for (int i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        if (value != 0) throw new ArgumentOutOfRangeException(nameof(value));
        field[digits] = 0;
    }

    /// <summary>Opens the archive as a read-only seekable stream over <paramref name="filePath"/> (uploads may rewind).</summary>
    public static Stream Open(string filePath, string memberName, long mtimeSeconds)
    {
        var file = new FileStream(filePath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try { return new TarStream(Header(memberName, file.Length, mtimeSeconds), file); }
        catch { file.Dispose(); throw; }
    }

    sealed class TarStream(byte[] header, FileStream file) : ReadOnlyStream
    {
        readonly long _fileSize = file.Length;
        long _position;

        public override bool CanSeek => true;
        public override long Length => ArchiveSize(_fileSize);
        public override long Position { get => _position; set => Seek(value, SeekOrigin.Begin); }

        public override int Read(Span<byte> destination)
        {
            if (destination.IsEmpty || _position >= Length) return 0;
            int n;
            if (_position < BlockSize)
            {
                n = (int)Math.Min(destination.Length, BlockSize - _position);
                header.AsSpan((int)_position, n).CopyTo(destination);
            }
            else if (_position < BlockSize + _fileSize)
            {
                long at = _position - BlockSize;
                if (file.Position != at) file.Position = at;
                n = file.Read(destination[..(int)Math.Min(destination.Length, _fileSize - at)]);
                if (n == 0) throw new ZarException($"{file.Name}: file shrank while being read");
            }
            else
            {
                n = (int)Math.Min(destination.Length, Length - _position);
                destination[..n].Clear();
            }
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            long p = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => Length + offset };
            if (p < 0) throw new IOException("seek before the start of the stream");
            return _position = p;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) file.Dispose();
            base.Dispose(disposing);
        }
    }
}
