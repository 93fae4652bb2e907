using Zar.Formats.LayerIndex;
using Zar.Sources.Registry;

namespace Zar.Sources.Lazy;

/// <summary>Layer indexes stored in a registry as OCI artifacts referring to the image (placeholder until push/pull lands).</summary>
public static class IndexRegistry
{
    public static IEnumerable<LayerIndex> Find(RegistryClient client, string repository, string manifestDigest, IReadOnlySet<string> layerDigests) => [];
}
