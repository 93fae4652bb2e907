namespace Zar.Oci;

/// <summary>One <c>history</c> entry of an image config; <see cref="EmptyLayer"/> entries have no layer of their own.</summary>
public sealed record HistoryEntry(string? Created, string? CreatedBy, string? Comment, bool EmptyLayer = false);
