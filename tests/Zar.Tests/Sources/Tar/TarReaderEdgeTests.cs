using System.Text;
using Zar.Model;
using Zar.Sources.Tar;
using static Zar.Tests.Sources.Tar.RawTar;

namespace Zar.Tests.Sources.Tar;

/// <summary>Hand-made headers for the corners real writers rarely produce.</summary>
public sealed class TarReaderEdgeTests
{
    static List<ReadEntry> Read(byte[] tar, bool seekable = true)
    {
        using var reader = new TarReader(seekable ? new MemoryStream(tar) : new NonSeekableStream(new MemoryStream(tar)), "test.tar");
        return TarTestSupport.ReadAll(reader);
    }

    static ZarFormatException ReadFails(byte[] tar, bool seekable = true) =>
        Assert.Throws<ZarFormatException>(() => Read(tar, seekable));

    static string Text(ReadEntry r) => Encoding.UTF8.GetString(r.Data);

    [Fact]
    public void Base256NegativeMtimeBigIdsAndSize()
    {
        var h = NewHeader("b256", '0').Gnu()
            .Base256(136, 12, -100).Base256(108, 8, 10_000_000).Base256(116, 8, 4_000_000_000).Base256(124, 12, 5);
        var e = Read(new RawTar().Add(h, "hello"u8).End().ToArray()).Single();
        Assert.Equal(-100, e.Entry.MtimeSeconds);
        Assert.Equal(10_000_000u, e.Entry.Uid);
        Assert.Equal(4_000_000_000u, e.Entry.Gid);
        Assert.Equal("hello", Text(e));
    }

    [Fact]
    public void Base256PythonEncodingMatchesSpecBytes()
    {
        // Bytes as Python's tarfile writes them (spec f.1): uid 10000000 and mtime -100.
        var h = NewHeader("py", '0').Gnu()
            .Text(108, 8, new byte[] { 0x80, 0, 0, 0, 0, 0x98, 0x96, 0x80 })
            .Text(136, 12, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x9C });
        var e = Read(new RawTar().Add(h).End().ToArray()).Single();
        Assert.Equal(10_000_000u, e.Entry.Uid);
        Assert.Equal(-100, e.Entry.MtimeSeconds);
    }

    [Fact]
    public void OctalWithLeadingSpacesAndNuls()
    {
        var h = NewHeader("sp", '0', 3)
            .Text(100, 8, "  755 \0\0").Text(108, 8, "\0\0 1750\0").Text(116, 8, "     12 ").Text(124, 12, " 3\0\0\0\0\0\0\0\0\0\0");
        var e = Read(new RawTar().Add(h, "abc"u8).End().ToArray()).Single();
        Assert.Equal(Convert.ToUInt32("755", 8), e.Entry.Mode);
        Assert.Equal(Convert.ToUInt32("1750", 8), e.Entry.Uid);
        Assert.Equal(10u, e.Entry.Gid);
        Assert.Equal("abc", Text(e));
    }

    [Fact]
    public void ChecksumSignedAndUnsignedAcceptedWrongRejectedWithOffset()
    {
        var name = "é-ü-名前";
        var signed = NewHeader(name, '0');
        signed.SignedChecksum = true;
        Assert.Equal(name, Read(new RawTar().Add(signed).End().ToArray()).Single().Entry.Path);
        Assert.Equal(name, Read(new RawTar().Add(NewHeader(name, '0')).End().ToArray()).Single().Entry.Path);

        var tar = new RawTar().File("first", "1").Add(NewHeader("bad", '0')).End().ToArray();
        tar[512 + 512 + 3] ^= 0x20; // a name byte of the second header
        var ex = ReadFails(tar);
        Assert.Contains("test.tar", ex.Message);
        Assert.Contains("offset 1024", ex.Message);
        Assert.Contains("checksum", ex.Message);
        Assert.DoesNotContain("\n", ex.Message);
    }

    [Fact]
    public void V7TrailingSlashIsDirectoryType7IsRegular()
    {
        var v7dir = new Header().Name("olddir/").Type('\0').Mode(493).Size(0).Mtime(5).Uid(0).Gid(0);
        var v7file = new Header().Name("olddir/f").Type('\0').Mode(420).Size(2).Mtime(5).Uid(0).Gid(0);
        var entries = Read(new RawTar().Add(v7dir).Add(v7file, "hi"u8).File("contig", "c", '7').End().ToArray());
        Assert.Equal([EntryType.Directory, EntryType.Regular, EntryType.Regular], entries.Select(e => e.Entry.Type));
        Assert.Equal(["olddir", "olddir/f", "contig"], entries.Select(e => e.Entry.Path));
        Assert.Equal("hi", Text(entries[1]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void HeaderOnlyTypesHaveNoDataWhateverTheSizeSays(bool seekable)
    {
        var tar = new RawTar()
            .Add(NewHeader("sym", '2', 1024).LinkName("target"))
            .Add(NewHeader("dir", '5', 700))
            .Add(NewHeader("hard", '1', 99).LinkName("./sym"))
            .Add(NewHeader("chr", '3', 5).Dev(4, 64))
            .Add(NewHeader("fifo", '6', 10))
            .File("after", "data")
            .End().ToArray();
        var entries = Read(tar, seekable);
        Assert.Equal(["sym", "dir", "hard", "chr", "fifo", "after"], entries.Select(e => e.Entry.Path));
        Assert.All(entries.Take(5), e => Assert.Equal(0, e.Tar.StoredSize));
        Assert.Equal("target", entries[0].Entry.LinkTarget);
        Assert.Equal("sym", entries[2].Entry.LinkTarget);
        Assert.Equal((4u, 64u), (entries[3].Entry.DevMajor, entries[3].Entry.DevMinor));
        Assert.Equal("data", Text(entries[5]));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UnknownTypesAreSkippedWithTheirData(bool seekable)
    {
        var tar = new RawTar()
            .Pax('x', R("path", "should-not-leak"))
            .Add(NewHeader("vendor", 'Q', 1500), new byte[1500])
            .Add(NewHeader("label", 'V', 0))
            .File("real", "r")
            .End().ToArray();
        var e = Read(tar, seekable).Single();
        Assert.Equal("real", e.Entry.Path);
        Assert.Equal("r", Text(e));
        Assert.Equal(512 * 7, e.Tar.HeaderOffset);
    }

    [Fact]
    public void GlobalHeadersApplyUntilOverriddenButNotPerFileKeys()
    {
        var tar = new RawTar()
            .Pax('g', R("uid", "42"), R("mtime", "5.5"), R("SCHILY.xattr.user.g", "gv"), R("path", "global-path"), R("comment", "c0ffee"))
            .File("a", "1")
            .Pax('x', R("uid", "7"))
            .File("b", "2")
            .Pax('g', R("uid", ""))
            .File("c", "3")
            .End().ToArray();
        var e = Read(tar);
        Assert.Equal(["a", "b", "c"], e.Select(x => x.Entry.Path));
        Assert.Equal([42u, 7u, 0u], e.Select(x => x.Entry.Uid));
        Assert.All(e, x => Assert.Equal((5L, 500_000_000u), (x.Entry.MtimeSeconds, x.Entry.MtimeNanoseconds)));
        Assert.All(e, x => Assert.Equal("gv"u8.ToArray(), x.Entry.GetXattr("user.g")));
        Assert.Equal("c0ffee", e[0].Tar.PaxRecords["comment"]);
        Assert.Equal(0, e[0].Tar.HeaderOffset);
    }

    [Fact]
    public void LongNamesAnyOrderPaxWins()
    {
        var longName = string.Join('/', Enumerable.Repeat(new string('a', 90), 5));
        var longTarget = new string('t', 400);
        var tar = new RawTar()
            .LongName('K', longTarget).LongName('L', longName)
            .Add(NewHeader("truncated", '2').LinkName("trunc").Gnu())
            .LongName('L', "ignored-by-pax").Pax('x', R("path", "from-pax"), R("linkpath", "pax-target"))
            .Add(NewHeader("truncated", '2').LinkName("trunc"))
            .Pax('x', R("mtime", "1")).LongName('L', "l-after-x").File("short", "z")
            .End().ToArray();
        var e = Read(tar);
        Assert.Equal(longName, e[0].Entry.Path);
        Assert.Equal(longTarget, e[0].Entry.LinkTarget);
        Assert.Equal(0, e[0].Tar.HeaderOffset);
        Assert.Equal("from-pax", e[1].Entry.Path);
        Assert.Equal("pax-target", e[1].Entry.LinkTarget);
        Assert.Equal("l-after-x", e[2].Entry.Path);
        Assert.Equal(1, e[2].Entry.MtimeSeconds);
    }

    [Fact]
    public void UstarPrefixOnlyWithPosixMagic()
    {
        var posix = NewHeader("name", '0').Prefix("pre/fix");
        var gnu = NewHeader("name2", '0').Gnu().Prefix("junk-atime-bytes");
        var e = Read(new RawTar().Add(posix).Add(gnu).End().ToArray());
        Assert.Equal("pre/fix/name", e[0].Entry.Path);
        Assert.Equal("name2", e[1].Entry.Path);
    }

    [Fact]
    public void PaxTimesFractionsAndNegatives()
    {
        var tar = new RawTar()
            .Pax('x', R("mtime", "-1.25")).File("neg", "")
            .Pax('x', R("mtime", "123.000000001999")).File("frac", "")
            .Pax('x', R("mtime", "-7")).File("negwhole", "")
            .End().ToArray();
        var e = Read(tar);
        Assert.Equal((-2L, 750_000_000u), (e[0].Entry.MtimeSeconds, e[0].Entry.MtimeNanoseconds));
        Assert.Equal((123L, 1u), (e[1].Entry.MtimeSeconds, e[1].Entry.MtimeNanoseconds));
        Assert.Equal((-7L, 0u), (e[2].Entry.MtimeSeconds, e[2].Entry.MtimeNanoseconds));
    }

    [Fact]
    public void PaxBinaryValuesNamesAndXattrsRoundTripAsBytes()
    {
        byte[] rawName = [(byte)'b', 0xFF, 0xFE, (byte)'/', (byte)'x'];
        byte[] value = [0, 1, 0x0A, 0xFF, (byte)'=', 0];
        var tar = new RawTar()
            .Pax('x', R("hdrcharset", "BINARY"), ("path", rawName), ("SCHILY.xattr.user.v", value), R("SCHILY.xattr.user.empty", ""),
                R("LIBARCHIVE.xattr.user.%41b", Convert.ToBase64String([1, 2, 3]).TrimEnd('=')))
            .File("placeholder", "d")
            .End().ToArray();
        var e = Read(tar).Single();
        Assert.Equal(rawName, ZarPath.Encode(e.Entry.Path));
        Assert.Equal(value, e.Entry.GetXattr("user.v"));
        Assert.Empty(e.Entry.GetXattr("user.empty")!);
        Assert.Equal(new byte[] { 1, 2, 3 }, e.Entry.GetXattr("user.Ab"));
        Assert.Equal(["user.Ab", "user.empty", "user.v"], e.Entry.Xattrs.Select(x => x.Name));
    }

    [Fact]
    public void PaxSizeOverridesHeaderSize()
    {
        var data = new byte[3000];
        new Random(1).NextBytes(data);
        var tar = new RawTar().Pax('x', R("size", "3000")).Add(NewHeader("big", '0', 0), data).File("next", "n").End().ToArray();
        var e = Read(tar);
        Assert.Equal(data, e[0].Data);
        Assert.Equal(3000, e[0].Entry.Size);
        Assert.Equal("n", Text(e[1]));
    }

    [Fact]
    public void EscapesAreFlaggedAndPathsClamped()
    {
        var tar = new RawTar()
            .File("../evil", "1").File("a/../../b", "2").File("/abs/x", "3").File("./ok/../fine", "4")
            .Add(NewHeader("h", '1').LinkName("../../etc/passwd"))
            .Add(NewHeader("s", '2').LinkName("../../etc/passwd"))
            .End().ToArray();
        var e = Read(tar);
        Assert.Equal(["evil", "b", "abs/x", "fine", "h", "s"], e.Select(x => x.Entry.Path));
        Assert.Equal([true, true, false, false, true, false], e.Select(x => x.Tar.Escapes));
        Assert.Equal("../evil", e[0].Tar.RawName);
        Assert.Equal("etc/passwd", e[4].Entry.LinkTarget);
        Assert.Equal("../../etc/passwd", e[5].Entry.LinkTarget);
    }

    [Fact]
    public void EscapesFromSystemFormatsTarWriter()
    {
        var ms = new MemoryStream();
        using (var w = new System.Formats.Tar.TarWriter(ms, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
        {
            w.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "../../x"));
            w.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.HardLink, "y") { LinkName = "../z" });
        }
        var e = Read(ms.ToArray());
        Assert.True(e[0].Tar.Escapes);
        Assert.Equal("x", e[0].Entry.Path);
        Assert.True(e[1].Tar.Escapes);
        Assert.Equal("z", e[1].Entry.LinkTarget);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TruncatedDataNamesEntryAndOffset(bool seekable)
    {
        var full = new RawTar().File("first", "1").Add(NewHeader("usr/bin/x", '0', 4096), new byte[4096]).End().ToArray();
        var cut = full[..(1024 + 512 + 100)];
        // Skipping (data never read) and reading both report the truncation.
        var ex = Assert.Throws<ZarFormatException>(() =>
        {
            using var r = new TarReader(seekable ? new MemoryStream(cut) : new NonSeekableStream(new MemoryStream(cut)), "layer.tar");
            while (r.Next() != null) { }
        });
        Assert.Equal("layer.tar: entry 'usr/bin/x' at offset 1536: truncated data (expected 4096 bytes, stream ends 3996 bytes short)", ex.Message);
        var ex2 = ReadFails(cut, seekable);
        Assert.StartsWith("test.tar: entry 'usr/bin/x' at offset 1536: truncated data", ex2.Message);
    }

    [Fact]
    public void HugeSizeFieldFailsFast()
    {
        var h = NewHeader("huge", '0').Gnu().Base256(124, 12, 1L << 60);
        var tar = new RawTar().Add(h).ToArray();
        Assert.Contains("truncated data", ReadFails(tar, seekable: true).Message);
        Assert.Contains("truncated data", ReadFails(tar, seekable: false).Message);
    }

    [Fact]
    public void OversizedMetadataIsRejectedBeforeAllocating()
    {
        var tar = new RawTar().Add(NewHeader("PaxHeader", 'x', 2L << 20)).ToArray();
        var ex = ReadFails(tar);
        Assert.Contains("exceeds the limit", ex.Message);
        Assert.Contains("offset 0", ex.Message);
        var tar2 = new RawTar().Add(NewHeader("././@LongLink", 'L').Gnu().Base256(124, 12, 1L << 40)).ToArray();
        Assert.Contains("exceeds the limit", ReadFails(tar2).Message);
    }

    [Fact]
    public void ManyPrefixHeadersCannotAddUpToUnboundedMemory()
    {
        var big = new string('v', 600_000);
        var local = new RawTar().Pax('x', R("a.key", big)).Pax('x', R("b.key", big)).File("f", "1").End().ToArray();
        Assert.Contains("extended headers of one entry exceed", ReadFails(local).Message);
        var global = new RawTar().Pax('g', R("a.key", big)).File("f", "1").Pax('g', R("b.key", big)).File("g", "1").End().ToArray();
        Assert.Contains("global PAX records exceed", ReadFails(global).Message);
    }

    [Fact]
    public void StarPrefixStopsBeforeItsTimes()
    {
        var h = NewHeader("name", '0').Prefix(new string('p', 131)).Text(476, 32, "12345670123\012345670123\0").Text(508, 4, "tar\0");
        Assert.Equal(new string('p', 131) + "/name", Read(new RawTar().Add(h).End().ToArray()).Single().Entry.Path);
    }

    [Fact]
    public void MalformedPaxIsAFormatError()
    {
        foreach (var body in new[] { "5 a=b\n", "99 path=x\n", "x path=y\n", "12 pathxyz\n\n", "11 path=xyz" })
        {
            var data = Encoding.ASCII.GetBytes(body);
            var tar = new RawTar().Add(NewHeader("PaxHeader", 'x', data.Length), data).File("f", "1").End().ToArray();
            Assert.Contains("PAX", ReadFails(tar).Message);
        }
    }

    [Fact]
    public void EndOfStreamAtHeaderBoundaryIsTheEndButNotAfterAPrefixHeader()
    {
        var noMarker = new RawTar().File("a", "1").File("b", "2").ToArray();
        Assert.Equal(["a", "b"], Read(noMarker).Select(e => e.Entry.Path));
        var dangling = new RawTar().File("a", "1").Pax('x', R("path", "p")).ToArray();
        Assert.Contains("after an extended header", ReadFails(dangling).Message);
        Assert.Empty(Read([]));
    }

    [Fact]
    public void PositionCountsEverythingUpToTheEndMarker()
    {
        var tar = new RawTar().File("a", new string('x', 700)).Pax('x', R("mtime", "1.5")).File("b", "2").End().ToArray();
        using var r = new TarReader(new MemoryStream(tar), "t");
        var a = r.Next()!;
        Assert.Equal(512, r.Position);
        Assert.Equal(512, a.DataOffset);
        var b = r.Next()!;
        Assert.Equal(1536, b.HeaderOffset);
        Assert.Equal(3072, b.DataOffset);
        Assert.Null(r.Next());
        Assert.Equal(tar.Length, r.Position);
    }

    [Fact]
    public void PartialReadThenNextSkipsTheRestAndStaleStreamThrows()
    {
        var data = new byte[200_000];
        new Random(2).NextBytes(data);
        var tar = new RawTar().Add(NewHeader("big", '0', data.Length), data).File("after", "ok").End().ToArray();
        using var r = new TarReader(new NonSeekableStream(new MemoryStream(tar)), "t");
        r.Next();
        var s = r.OpenData();
        var buf = new byte[10];
        s.ReadExactly(buf);
        Assert.Equal(data[..10], buf);
        var next = r.Next()!;
        Assert.Equal("after", next.Entry.Path);
        Assert.Throws<InvalidOperationException>(() => s.ReadByte());
        Assert.Equal("ok", new StreamReader(r.OpenData()).ReadToEnd());
    }
}
