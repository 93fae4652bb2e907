using System.Runtime.InteropServices;
using Zar.Model;

namespace Zar.Native;

/// <summary>
/// A raw/gzip inflater over the system's zlib (<c>libz.so.1</c>, in every Debian), for what random access into
/// gzip layers needs and nothing in .NET or NuGet offers: stopping at deflate block boundaries (<c>Z_BLOCK</c>, with
/// <c>data_type</c> saying where in the bit stream we are), entering a raw deflate stream at a bit offset
/// (<c>inflatePrime</c>) and priming its 32 KiB history (<c>inflateSetDictionary</c>): zlib's zran.c technique.
/// System.IO.Compression wraps zlib-ng but exports none of these; SharpZipLib's managed inflater has a dictionary but
/// neither block stops nor bit priming. The z_stream lives in native memory because zlib keeps a pointer to it.
/// Not thread-safe: one inflater per reader.
/// </summary>
internal sealed unsafe partial class ZlibInflater : IDisposable
{
    const string Lib = "libz.so.1";
    public const int Z_OK = 0, Z_STREAM_END = 1, Z_NEED_DICT = 2, Z_BUF_ERROR = -5;
    public const int Z_NO_FLUSH = 0, Z_BLOCK = 5;
    /// <summary>windowBits: raw deflate (no header), and gzip only (31).</summary>
    public const int Raw = -15, Gzip = 31;

    // z_stream on LP64 (zlib.h): pointers and uLong are 8 bytes, uInt and int 4.
    [StructLayout(LayoutKind.Sequential)]
    struct ZStream
    {
        public byte* next_in;
        public uint avail_in;
        public nuint total_in;
        public byte* next_out;
        public uint avail_out;
        public nuint total_out;
        public sbyte* msg;
        public nint state;
        public nint zalloc, zfree, opaque;
        public int data_type;
        public nuint adler, reserved;
    }

    [LibraryImport(Lib, EntryPoint = "inflateInit2_")]
    private static partial int InflateInit2(ZStream* strm, int windowBits, byte* version, int streamSize);
    [LibraryImport(Lib, EntryPoint = "inflate")]
    private static partial int Inflate(ZStream* strm, int flush);
    [LibraryImport(Lib, EntryPoint = "inflateEnd")]
    private static partial int InflateEnd(ZStream* strm);
    [LibraryImport(Lib, EntryPoint = "inflateReset2")]
    private static partial int InflateReset2(ZStream* strm, int windowBits);
    [LibraryImport(Lib, EntryPoint = "inflatePrime")]
    private static partial int InflatePrime(ZStream* strm, int bits, int value);
    [LibraryImport(Lib, EntryPoint = "inflateSetDictionary")]
    private static partial int InflateSetDictionary(ZStream* strm, byte* dictionary, uint length);
    [LibraryImport(Lib, EntryPoint = "zlibVersion")]
    private static partial byte* ZlibVersion();

    ZStream* _z;

    public ZlibInflater(int windowBits)
    {
        _z = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
        int rc;
        try { rc = InflateInit2(_z, windowBits, ZlibVersion(), sizeof(ZStream)); }
        catch (DllNotFoundException e)
        {
            NativeMemory.Free(_z);
            _z = null;
            throw new ZarException($"random access into gzip layers needs the system zlib ({Lib}): {e.Message}");
        }
        if (rc != Z_OK)
        {
            NativeMemory.Free(_z);
            _z = null;
            throw new ZarException($"zlib inflateInit2 failed ({rc})");
        }
    }

    /// <summary>Bit 7: stopped at a block boundary or after a header; bit 6: inside the last block; bits 0-2: unused bits of the last input byte.</summary>
    public int DataType => _z->data_type;

    public void Reset(int windowBits) => Check(InflateReset2(Z, windowBits), "inflateReset2");

    /// <summary>Feeds the top <paramref name="bits"/> bits of the byte before a checkpoint (zran: <c>value >> (8 - bits)</c>).</summary>
    public void Prime(int bits, int value) => Check(InflatePrime(Z, bits, value), "inflatePrime");

    public void SetDictionary(ReadOnlySpan<byte> window)
    {
        if (window.IsEmpty) return;
        fixed (byte* w = window) Check(InflateSetDictionary(Z, w, (uint)window.Length), "inflateSetDictionary");
    }

    /// <summary>One inflate call: returns zlib's code and how many bytes were consumed and produced. Data errors
    /// come back as negative codes with <see cref="Message"/>; the caller names the blob.</summary>
    public int Inflate(ReadOnlySpan<byte> input, Span<byte> output, int flush, out int consumed, out int produced)
    {
        var z = Z;
        fixed (byte* i = input)
        fixed (byte* o = output)
        {
            z->next_in = i;
            z->avail_in = (uint)input.Length;
            z->next_out = o;
            z->avail_out = (uint)output.Length;
            int rc = Inflate(z, flush);
            consumed = input.Length - (int)z->avail_in;
            produced = output.Length - (int)z->avail_out;
            z->next_in = null;
            z->next_out = null;
            return rc;
        }
    }

    public string Message => _z != null && _z->msg != null ? Marshal.PtrToStringAnsi((nint)_z->msg) ?? "" : "";

    ZStream* Z => _z != null ? _z : throw new ObjectDisposedException(nameof(ZlibInflater));

    static void Check(int rc, string what)
    {
        if (rc != Z_OK) throw new ZarException($"zlib {what} failed ({rc})");
    }

    public void Dispose()
    {
        if (_z == null) return;
        InflateEnd(_z);
        NativeMemory.Free(_z);
        _z = null;
    }
}
