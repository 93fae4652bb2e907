using Zar.Oci;

namespace Zar.Sources.Registry;

/// <summary>A blob to push: its descriptor and a way to (re)open its bytes (uploads may restart).</summary>
public sealed record PushBlob(Descriptor Descriptor, Func<Stream> Open);
