using System.Text.Json;
using Zar.Model;

namespace Zar.Sources.Images.Oci;

/// <summary>An OCI content descriptor (image-spec descriptor.md), with the platform of index entries.</summary>
sealed record OciDescriptor(string? MediaType, string Digest, long Size, IReadOnlyDictionary<string, string> Annotations,
    string? Os, string? Architecture, string? Variant, byte[]? Data)
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string ContainerdName = "io.containerd.image.name";

    public static bool IsIndex(string? mt) => mt is OciIndex or DockerManifestList;
    public static bool IsManifest(string? mt) => mt is OciManifest or DockerManifest;
    public static bool IsConfig(string? mt) => mt is OciConfig or DockerConfig;

    public bool HasPlatform => Os != null || Architecture != null;
    public string PlatformText => !HasPlatform ? "(no platform)" : Variant == null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
    public string? Ref => Annotations.GetValueOrDefault(RefName);

    public static OciDescriptor Parse(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ZarFormatException($"{what}: descriptor is not a JSON object");
        string? Str(JsonElement o, string n) => o.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var digest = Str(e, "digest");
        if (!BlobDigest.IsValid(digest)) throw new ZarFormatException($"{what}: descriptor has an invalid digest '{digest}'");
        if (!e.TryGetProperty("size", out var sz) || sz.ValueKind != JsonValueKind.Number || !sz.TryGetInt64(out long size) || size < 0)
            throw new ZarFormatException($"{what}: descriptor {digest} has no valid size");
        var ann = new Dictionary<string, string>(StringComparer.Ordinal);
        if (e.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object)
            foreach (var p in a.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.String) ann[p.Name] = p.Value.GetString()!;
        string? os = null, arch = null, variant = null;
        if (e.TryGetProperty("platform", out var pl) && pl.ValueKind == JsonValueKind.Object)
        {
            os = Str(pl, "os");
            arch = Str(pl, "architecture");
            variant = Str(pl, "variant");
        }
        byte[]? data = null;
        if (Str(e, "data") is { } b64)
        {
            try { data = Convert.FromBase64String(b64); }
            catch (FormatException) { throw new ZarFormatException($"{what}: descriptor {digest} has invalid base64 data"); }
        }
        return new OciDescriptor(Str(e, "mediaType"), digest!, size, ann, os, arch, variant, data);
    }

    public static List<OciDescriptor> ParseList(JsonElement parent, string property, string what)
    {
        var list = new List<OciDescriptor>();
        if (!parent.TryGetProperty(property, out var arr) || arr.ValueKind == JsonValueKind.Null) return list;
        if (arr.ValueKind != JsonValueKind.Array) throw new ZarFormatException($"{what}: '{property}' is not a list");
        foreach (var item in arr.EnumerateArray()) list.Add(Parse(item, what));
        return list;
    }
}

/// <summary>
/// Minimal containerd-style platform choice among index entries (normalized os/arch, variant preference,
/// attestations skipped, entries without platform last). The registry branch brings a fuller
/// <c>Zar.Sources.Images.Platform</c>; this stays internal to the layout readers until the two are unified.
/// </summary>
static class PlatformChoice
{
    public static string Host()
    {
        var arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => "amd64",
            System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
            System.Runtime.InteropServices.Architecture.X86 => "386",
            System.Runtime.InteropServices.Architecture.Arm => "arm/v7",
            System.Runtime.InteropServices.Architecture.S390x => "s390x",
            System.Runtime.InteropServices.Architecture.Ppc64le => "ppc64le",
            System.Runtime.InteropServices.Architecture.RiscV64 => "riscv64",
            var a => a.ToString().ToLowerInvariant(),
        };
        return "linux/" + arch;
    }

    public static (string Os, string Arch, string? Variant) Normalize(string? os, string? arch, string? variant)
    {
        os = (os ?? "").ToLowerInvariant();
        arch = (arch ?? "").ToLowerInvariant();
        variant = string.IsNullOrEmpty(variant) ? null : variant.ToLowerInvariant();
        switch (arch)
        {
            case "x86_64" or "x86-64": arch = "amd64"; break;
            case "aarch64": arch = "arm64"; break;
            case "armhf": arch = "arm"; variant = "v7"; break;
            case "armel": arch = "arm"; variant = "v6"; break;
            case "i386": arch = "386"; break;
        }
        if (arch == "amd64" && variant == "v1") variant = null;
        if (arch == "arm64" && variant is "8" or "v8" or "v8.0") variant = null;
        if (arch == "arm" && variant is null or "7") variant = "v7";
        return (os, arch, variant);
    }

    public static (string Os, string Arch, string? Variant) Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
            throw new ZarException($"invalid platform '{text}': expected os/arch[/variant], e.g. linux/amd64");
        return Normalize(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    static bool IsAttestation(OciDescriptor d) =>
        d.Annotations.GetValueOrDefault("vnd.docker.reference.type") == "attestation-manifest"
        || d is { Os: "unknown", Architecture: "unknown" };

    /// <summary>Index entries that fit the wanted platform, best first (index order breaks ties).</summary>
    public static List<OciDescriptor> Rank(IReadOnlyList<OciDescriptor> entries, string wanted)
    {
        var (wos, warch, wvar) = Parse(wanted);
        var ranked = new List<(int Rank, int Index, OciDescriptor D)>();
        for (int i = 0; i < entries.Count; i++)
        {
            var d = entries[i];
            if (IsAttestation(d)) continue;
            if (!d.HasPlatform) { ranked.Add((100, i, d)); continue; }
            var (os, arch, variant) = Normalize(d.Os, d.Architecture, d.Variant);
            if (os != wos) continue;
            int rank;
            if (arch == warch) rank = variant == wvar ? 0 : wvar == null || variant == null ? 1 : string.CompareOrdinal(variant, wvar) < 0 ? 2 : -1;
            else if (warch == "amd64" && arch == "386") rank = 3;
            else if (warch == "arm64" && arch == "arm") rank = 4;
            else rank = -1;
            if (rank >= 0) ranked.Add((rank, i, d));
        }
        return ranked.OrderBy(x => x.Rank).ThenBy(x => x.Index).Select(x => x.D).ToList();
    }

    public static string Available(IEnumerable<OciDescriptor> entries)
    {
        var names = entries.Where(d => !IsAttestation(d)).Select(d => d.PlatformText).Distinct().ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }
}
