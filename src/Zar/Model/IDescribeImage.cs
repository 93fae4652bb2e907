namespace Zar.Model;

/// <summary>
/// A reader that can say what its image is made of (format, header fields, counts, sizes), so a consumer
/// such as <c>zar inspect</c> prints any image without knowing the reader's type.
/// </summary>
public interface IDescribeImage
{
    /// <summary>
    /// Label and value pairs in display order, one of them "format" (e.g. "zar 1.0", "EROFS"). A label
    /// starting with two spaces breaks down the line above it (e.g. entry counts by type).
    /// </summary>
    IReadOnlyList<KeyValuePair<string, string>> Describe();
}
