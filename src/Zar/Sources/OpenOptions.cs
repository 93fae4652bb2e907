using Zar.Oci;
using Zar.Sources.Images;
using Zar.Sources.Layers;
using Zar.Sources.Registry;

namespace Zar.Sources;

/// <summary>Everything <see cref="SourceOpener"/> needs besides the spec, passed with each call (nothing is global).</summary>
public sealed record OpenOptions
{
    /// <summary>The platform to pick from multi-platform images; null: this machine's (<see cref="Oci.Platform.Host"/>).</summary>
    public Platform? Platform { get; init; }

    /// <summary>How layers are scanned, verified and merged.</summary>
    public LayerStackOptions Stack { get; init; } = new();

    /// <summary>Credentials, TLS, blob cache, parallelism and progress for <c>docker://</c>.</summary>
    public RegistryOptions Registry { get; init; } = new();

    /// <summary>
    /// Extra transports by name: <c>NAME:REST</c> (or <c>NAME://REST</c>) opens through the function, which gets
    /// REST without the leading "//".
    /// </summary>
    public IReadOnlyDictionary<string, Func<string, OpenOptions, IImageSource>>? Transports { get; init; }

    /// <summary>Where an fl's blobs are read from (its own routes unless stores are given) and how much is cached.</summary>
    public Formats.Flist.FlistOpenOptions Flist { get; init; } = new();

    /// <summary>Files holding an EROFS image's extra devices, in device-table order (a tarfs <c>--meta-only</c> image's tars).</summary>
    public IReadOnlyList<string> ErofsDevices { get; init; } = [];

    /// <summary>Read images lazily over layer indexes (<c>--lazy</c>, <c>--index</c>): see <see cref="Lazy.LazySource"/>.</summary>
    public Lazy.LazyOptions Lazy { get; init; } = new();

    internal Platform PlatformOrHost => Platform ?? Oci.Platform.Host;
}
