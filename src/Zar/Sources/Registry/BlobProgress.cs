namespace Zar.Sources.Registry;

/// <summary>Progress of one blob transfer.</summary>
public readonly record struct BlobProgress(string Digest, long BytesDone, long? Total, bool Completed, bool FromCache);
