using System.Text;

namespace Zar.Tests.Sources.Tar;

/// <summary>Writes tar headers byte by byte, for inputs no well-behaved writer produces.</summary>
public sealed class RawTar
{
    readonly MemoryStream _out = new();

    public long Length => _out.Length;

    public sealed class Header
    {
        public readonly byte[] Block = new byte[512];
        public bool SignedChecksum;
        public bool KeepChecksum;

        public Header Text(int offset, int length, ReadOnlySpan<byte> value)
        {
            Block.AsSpan(offset, length).Clear();
            value[..Math.Min(value.Length, length)].CopyTo(Block.AsSpan(offset));
            return this;
        }

        public Header Text(int offset, int length, string value) => Text(offset, length, Encoding.UTF8.GetBytes(value));

        /// <summary>Octal, zero-padded, NUL-terminated (the usual form).</summary>
        public Header Octal(int offset, int length, long value) =>
            Text(offset, length, Convert.ToString(value, 8).PadLeft(length - 1, '0') + "\0");

        public Header Base256(int offset, int length, long value)
        {
            var f = Block.AsSpan(offset, length);
            for (int i = length - 1; i >= 0; i--) { f[i] = (byte)value; value >>= 8; }
            f[0] = (byte)(f[0] & 0x7F | 0x80);
            return this;
        }

        public Header Type(char t) { Block[156] = (byte)t; return this; }
        public Header Name(string n) => Text(0, 100, n);
        public Header Name(byte[] n) => Text(0, 100, n);
        public Header LinkName(string n) => Text(157, 100, n);
        public Header Mode(long m) => Octal(100, 8, m);
        public Header Uid(long v) => Octal(108, 8, v);
        public Header Gid(long v) => Octal(116, 8, v);
        public Header Size(long v) => Octal(124, 12, v);
        public Header Mtime(long v) => Octal(136, 12, v);
        public Header Ustar() => Text(257, 8, "ustar\u000000");
        public Header Gnu() => Text(257, 8, "ustar  \0");
        public Header Prefix(string p) => Text(345, 155, p);
        public Header Dev(long major, long minor) => Octal(329, 8, major).Octal(337, 8, minor);

        public byte[] Finish()
        {
            if (KeepChecksum) return Block;
            Block.AsSpan(148, 8).Fill((byte)' ');
            long sum = 0;
            foreach (byte b in Block) sum += SignedChecksum ? (sbyte)b : b;
            Text(148, 8, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
            return Block;
        }
    }

    /// <summary>A header with sane defaults: ustar magic, mode 0644, ids 0, mtime 1000000000.</summary>
    public static Header NewHeader(string name, char type, long size = 0) =>
        new Header().Name(name).Type(type).Mode(420).Uid(0).Gid(0).Size(size).Mtime(1_000_000_000).Ustar();

    public RawTar Add(Header h, ReadOnlySpan<byte> data = default)
    {
        _out.Write(h.Finish());
        WriteData(data);
        return this;
    }

    public RawTar WriteData(ReadOnlySpan<byte> data)
    {
        _out.Write(data);
        int pad = (int)((512 - data.Length % 512) % 512);
        _out.Write(new byte[pad]);
        return this;
    }

    public RawTar File(string name, string content, char type = '0') =>
        Add(NewHeader(name, type, Encoding.UTF8.GetByteCount(content)), Encoding.UTF8.GetBytes(content));

    public static byte[] PaxData(params (string Key, byte[] Value)[] records)
    {
        var ms = new MemoryStream();
        foreach (var (k, v) in records)
        {
            var body = Encoding.UTF8.GetBytes(" " + k + "=").Concat(v).Append((byte)'\n').ToArray();
            int len = body.Length + 1;
            while (len.ToString().Length + body.Length != len) len++;
            ms.Write(Encoding.ASCII.GetBytes(len.ToString()));
            ms.Write(body);
        }
        return ms.ToArray();
    }

    public static (string, byte[]) R(string key, string value) => (key, Encoding.UTF8.GetBytes(value));

    public RawTar Pax(char type, params (string Key, byte[] Value)[] records)
    {
        var data = PaxData(records);
        return Add(NewHeader("PaxHeader", type, data.Length), data);
    }

    public RawTar LongName(char type, string name)
    {
        var data = Encoding.UTF8.GetBytes(name + "\0");
        return Add(NewHeader("././@LongLink", type, data.Length).Gnu(), data);
    }

    public RawTar End()
    {
        _out.Write(new byte[1024]);
        return this;
    }

    public byte[] ToArray() => _out.ToArray();
}

/// <summary>Hides CanSeek so the reader's read-to-skip path is exercised.</summary>
public sealed class NonSeekableStream(Stream inner) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
