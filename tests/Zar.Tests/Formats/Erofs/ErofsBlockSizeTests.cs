using System.Security.Cryptography;
using Zar.Formats.Erofs;
using Zar.IO;
using Zar.Model;
using Zar.Sources.Host;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Erofs;

/// <summary>Images with blocks smaller than the page (512, 1024, 2048 bytes): kernel 6.4+ mounts them uncompressed.</summary>
public class ErofsBlockSizeTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(1024)]
    [InlineData(2048)]
    public void SmallBlocksKernelMountFsckAndReaderMatchSource(int blockSize)
    {
        using var tmp = new TempDir();
        var src = tmp["src"];
        ErofsTrees.BuildAllTypes(src);
        ErofsTrees.BuildLargeDirectory(src, 400);
        Tools.Sh($$"""
            cd '{{src}}'
            truncate -s 3000000 sparse
            head -c 5000 /dev/urandom | dd of=sparse bs=4096 seek=300 conv=notrunc status=none
            touch -d '2021-05-06 07:08:09' sparse . many
            """);
        var result = ErofsWriterTests.WriteAndVerify(tmp, src, options: new ErofsWriterOptions { BlockSize = blockSize });
        Assert.Equal(blockSize, result.BlockSize);
        Assert.Equal(result.ImageSize, result.Blocks * blockSize);
        using var image = ErofsImage.Open(tmp["img.erofs"]);
        Assert.Equal(blockSize, image.Superblock.BlockSize);
        Assert.True(image.Superblock.ChecksumValid);
        Assert.True(image.Lookup("sparse")!.IsSparse, "holes are null chunks at any block size");
        var dump = Tools.Run(ErofsUtils.Require("dump.erofs"), ["-s", tmp["img.erofs"]]);
        Assert.Contains($"Filesystem blocksize:                         {blockSize}", dump.Out.Replace("\t", " "));
    }

    /// <summary>Smaller blocks waste less on tails: the same tree needs fewer bytes at 512 than at 4096.</summary>
    [Fact]
    public void SmallBlocksSmallerImageForSmallFiles()
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildLargeDirectory(tmp["src"], 2000);
        using var source = new HostDirectory(tmp["src"]);
        long big = ErofsWriter.Write(source, tmp["4096"]).ImageSize;
        long small = ErofsWriter.Write(source, tmp["512"], new ErofsWriterOptions { BlockSize = 512 }).ImageSize;
        Assert.True(small < big, $"512-byte blocks: {small} bytes, 4096: {big}");
        using var a = ErofsImage.Open(tmp["4096"]);
        using var b = ErofsImage.Open(tmp["512"]);
        TreeComparer.AssertSame(a, b);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    [InlineData(3000)]
    [InlineData(8192)]
    public void UnsupportedBlockSizeClearError(int blockSize)
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["src"]);
        using var source = new HostDirectory(tmp["src"]);
        var e = Assert.Throws<ZarException>(() => ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions { BlockSize = blockSize }));
        Assert.Contains("block size", e.Message);
        Assert.False(File.Exists(tmp["img"]));
    }

    /// <summary>The observer sees every byte of the image once, in order: its hash is the file's hash, also through a pipe.</summary>
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public void ObserverSeesTheWholeImageInOrder(int blockSize)
    {
        using var tmp = new TempDir();
        ErofsTrees.BuildAllTypes(tmp["src"], longNames: false);
        using var source = new HostDirectory(tmp["src"]);
        var observer = new HashingObserver();
        var result = ErofsWriter.Write(source, tmp["img"], new ErofsWriterOptions { BlockSize = blockSize, Observer = observer });
        Assert.Equal(result.ImageSize, observer.Bytes);
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(tmp["img"])), observer.Hash());

        // Strictly sequential output: a non-seekable stream gets the same bytes.
        var piped = new MemoryStream();
        using (var pipe = new ForwardOnlyStream(piped)) ErofsWriter.Write(source, pipe, new ErofsWriterOptions { BlockSize = blockSize });
        Assert.Equal(File.ReadAllBytes(tmp["img"]), piped.ToArray());
    }

    sealed class HashingObserver : IWriteObserver
    {
        readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Bytes { get; private set; }
        public void Written(ReadOnlySpan<byte> bytes) { _hash.AppendData(bytes); Bytes += bytes.Length; }
        public byte[] Hash() => _hash.GetHashAndReset();
    }

    sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
