using Zar.Consumers;
using Zar.Model;

namespace Zar.Formats.Verity;

/// <summary>
/// A dm-verity tree for a finished image (<c>zar create/convert --verity</c>). EROFS never reads past its own
/// blocks, so the tree is appended, with data blocks of the image's block size (512 or 4096).
/// </summary>
public static class ImageVerity
{
    /// <summary>Throws when <paramref name="format"/> cannot carry an appended tree (checked before anything is written).</summary>
    public static void Require(ImageFormat format)
    {
        // A zar image ends with a footer that checks the file's length, at any length: no room for a tree after it,
        // and no whole number of blocks for a block device (veritysetup --hash-file works once its size is).
        if (format != ImageFormat.Erofs)
            throw new ZarNotSupportedException($"--verity needs --format erofs: a {format.Name()} image ends at an arbitrary length with a footer, so a block device cannot show all of it");
    }

    public static VerityTreeInfo Protect(string imagePath, ImageFormat format, int blockSize)
    {
        Require(format);
        return VerityTree.Format(imagePath, blockSize >= 4096 ? 4096 : 512);
    }
}
