using Zar.Model;

namespace Zar.Tests.Model;

public class PathTests
{
    [Theory]
    [InlineData(new byte[] { 0x61, 0xff, 0x62 })]
    [InlineData(new byte[] { 0xed, 0xb2, 0x80 })]
    [InlineData(new byte[] { 0xc3, 0xa9, 0x80, 0xf0, 0x9f, 0x98, 0x80 })]
    public void BytesRoundTripThroughStrings(byte[] bytes)
    {
        Assert.Equal(bytes, ZarPath.Encode(ZarPath.Decode(bytes)));
    }

    [Theory]
    [InlineData("/a//b/./c/", "a/b/c")]
    [InlineData("./a", "a")]
    [InlineData("a/../b", "b")]
    [InlineData("/", "")]
    public void Normalize(string input, string expected) => Assert.Equal(expected, ZarPath.Normalize(input));

    [Theory]
    [InlineData("../x")]
    [InlineData("a/../../b")]
    public void NormalizeRejectsEscapes(string input) => Assert.Null(ZarPath.Normalize(input));

    [Fact]
    public void WalkOrderPutsChildrenRightAfterParent()
    {
        var paths = new List<string> { "a/b-c", "a/b/c", "a/b", "a", "" };
        paths.Sort(ZarPath.PathComparer);
        Assert.Equal(new[] { "", "a", "a/b", "a/b/c", "a/b-c" }, paths);
    }
}
