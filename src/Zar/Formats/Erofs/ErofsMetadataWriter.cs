using System.Buffers.Binary;

namespace Zar.Formats.Erofs;

/// <summary>
/// Emits the metadata blocks in order from records given in position order. The superblock's block
/// gets the superblock and its checksum (which covers whatever shares that block: the device table,
/// the first inodes) when it is complete.
/// </summary>
sealed class ErofsMetadataWriter(ErofsImageSink sink, ErofsSuperblock superblock, ErofsGeometry g)
{
    readonly byte[] _block = new byte[g.BlockSize];
    long _blockNo;

    public void Write(long pos, ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            long blk = pos >> g.BlockSizeBits;
            while (_blockNo < blk) Flush();
            int at = (int)(pos & (g.BlockSize - 1));
            int n = Math.Min(data.Length, g.BlockSize - at);
            data[..n].CopyTo(_block.AsSpan(at));
            data = data[n..];
            pos += n;
        }
    }

    public void FinishThrough(long blocks)
    {
        while (_blockNo < blocks) Flush();
    }

    void Flush()
    {
        if (_blockNo == g.SuperblockBlock)
        {
            var s = _block.AsSpan((int)(ErofsFormat.SuperblockOffset - g.Bytes(_blockNo)));
            superblock.WriteTo(s);
            uint crc = ErofsSuperblock.ComputeChecksum(s, g.BlockSize);
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], crc);
        }
        sink.Write(_block);
        Array.Clear(_block);
        _blockNo++;
    }
}
