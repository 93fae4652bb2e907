using System.Runtime.InteropServices;
using System.Text.Json;
using Zar.Model;

namespace Zar.Oci;

/// <summary>
/// An image platform (`os/arch[/variant]`, the <c>platform</c> object of index entries and the platform fields
/// of an image config) and containerd-compatible selection among index entries: normalization of aliases, a
/// best-first compatibility vector, attestation manifests skipped, entries without a platform kept as
/// last-resort candidates (the caller confirms them by the config). Registry, OCI-layout and docker-archive
/// readers share this one rule.
/// </summary>
public sealed record Platform(string Os, string Architecture, string? Variant = null, string? OsVersion = null)
{
    /// <summary><c>os.features</c>, as written (never used for matching).</summary>
    public IReadOnlyList<string>? OsFeatures { get; init; }

    /// <summary>
    /// The <c>platform</c> object of a descriptor (image-spec image-index.md); null when it is not an object or
    /// names neither os nor architecture (such an entry is matched like one without a platform).
    /// </summary>
    public static Platform? Read(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object) return null;
        string? os = OciJson.LenientString(e, "os"), architecture = OciJson.LenientString(e, "architecture");
        if (os is null && architecture is null) return null;
        return new Platform(os ?? "", architecture ?? "", OciJson.LenientString(e, "variant"), OciJson.LenientString(e, "os.version"))
        {
            OsFeatures = OciJson.StringList(e, "os.features", what),
        };
    }

    /// <summary>Writes the <c>platform</c> object, field names as the spec spells them.</summary>
    public void Write(Utf8JsonWriter w, string propertyName = "platform")
    {
        w.WriteStartObject(propertyName);
        w.WriteString("architecture", Architecture);
        w.WriteString("os", Os);
        OciJson.WriteStringIfSet(w, "os.version", OsVersion);
        if (OsFeatures is { Count: > 0 }) OciJson.WriteStringList(w, "os.features", OsFeatures);
        OciJson.WriteStringIfSet(w, "variant", Variant);
        w.WriteEndObject();
    }

    public bool Equals(Platform? other) =>
        other is not null && Os == other.Os && Architecture == other.Architecture && Variant == other.Variant && OsVersion == other.OsVersion
        && (OsFeatures ?? []).SequenceEqual(other.OsFeatures ?? []);

    public override int GetHashCode() => HashCode.Combine(Os, Architecture, Variant, OsVersion);

    /// <summary>Parses `os/arch[/variant]` (as given to `--platform`); the result is normalized.</summary>
    public static Platform Parse(string text)
    {
        var parts = (text ?? "").Trim().Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0 || p.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))))
            throw new ZarException($"invalid platform '{text}': expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7");
        return new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null).Normalize();
    }

    /// <summary>The platform of this machine, normalized; amd64 carries its micro-architecture level (v2..v4) when above v1.</summary>
    public static Platform Host { get; } = DetectHost();

    static Platform DetectHost()
    {
        string os = OperatingSystem.IsLinux() ? "linux" : OperatingSystem.IsWindows() ? "windows"
            : OperatingSystem.IsMacOS() ? "darwin" : OperatingSystem.IsFreeBSD() ? "freebsd" : "linux";
        return RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => new Platform(os, "amd64", Amd64Level()).Normalize(),
            System.Runtime.InteropServices.Architecture.X86 => new Platform(os, "386"),
            System.Runtime.InteropServices.Architecture.Arm64 => new Platform(os, "arm64"),
            System.Runtime.InteropServices.Architecture.Arm => new Platform(os, "arm", "v7"),
            System.Runtime.InteropServices.Architecture.Armv6 => new Platform(os, "arm", "v6"),
            System.Runtime.InteropServices.Architecture.S390x => new Platform(os, "s390x"),
            System.Runtime.InteropServices.Architecture.Ppc64le => new Platform(os, "ppc64le"),
            System.Runtime.InteropServices.Architecture.RiscV64 => new Platform(os, "riscv64"),
            System.Runtime.InteropServices.Architecture.LoongArch64 => new Platform(os, "loong64"),
            var a => new Platform(os, a.ToString().ToLowerInvariant()),
        };
    }

    static string? Amd64Level()
    {
        // x86-64 psABI levels, approximated by the instruction sets .NET exposes.
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported
            && System.Runtime.Intrinsics.X86.Avx512CD.IsSupported && System.Runtime.Intrinsics.X86.Avx512DQ.IsSupported
            && System.Runtime.Intrinsics.X86.Avx512F.VL.IsSupported && System.Runtime.Intrinsics.X86.Avx2.IsSupported
            && System.Runtime.Intrinsics.X86.Bmi2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported)
            return "v4";
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Bmi1.IsSupported
            && System.Runtime.Intrinsics.X86.Bmi2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported
            && System.Runtime.Intrinsics.X86.Lzcnt.IsSupported)
            return "v3";
        if (System.Runtime.Intrinsics.X86.Sse42.IsSupported && System.Runtime.Intrinsics.X86.Popcnt.IsSupported
            && System.Runtime.Intrinsics.X86.Ssse3.IsSupported)
            return "v2";
        return null;
    }

    /// <summary>containerd's normalization: lowercase, architecture aliases, default/implied variants removed or added.</summary>
    public Platform Normalize()
    {
        string os = (Os ?? "").ToLowerInvariant();
        if (os == "macos") os = "darwin";
        string arch = (Architecture ?? "").ToLowerInvariant();
        string? variant = string.IsNullOrEmpty(Variant) ? null : Variant.ToLowerInvariant();
        switch (arch)
        {
            case "i386": arch = "386"; variant = null; break;
            case "x86_64" or "x86-64" or "amd64":
                arch = "amd64";
                if (variant == "v1") variant = null;
                break;
            case "aarch64" or "arm64":
                arch = "arm64";
                if (variant is "8" or "v8" or "v8.0") variant = null;
                break;
            case "armhf": arch = "arm"; variant = "v7"; break;
            case "armel": arch = "arm"; variant = "v6"; break;
            case "arm":
                if (variant is null or "7") variant = "v7";
                else if (variant is "5" or "6" or "8") variant = "v" + variant;
                break;
        }
        return new Platform(os, arch, variant, string.IsNullOrEmpty(OsVersion) ? null : OsVersion) { OsFeatures = OsFeatures };
    }

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>
    /// How well <paramref name="candidate"/> runs where this platform is wanted: 0 = exact, larger = a less preferred
    /// compatible fallback (older variant, 32-bit), null = incompatible. OS must match; os.version is not compared.
    /// </summary>
    public int? CompatibilityRank(Platform candidate)
    {
        var want = Normalize();
        var have = candidate.Normalize();
        if (want.Os != have.Os) return null;
        var vector = want.CompatibilityVector();
        for (int i = 0; i < vector.Count; i++)
            if (vector[i].Architecture == have.Architecture && vector[i].Variant == have.Variant) return i;
        return null;
    }

    public bool Accepts(Platform candidate) => CompatibilityRank(candidate) is not null;

    /// <summary>Platforms that run here, best first (arch + variant only; OS is this one's).</summary>
    public IReadOnlyList<Platform> CompatibilityVector()
    {
        var p = Normalize();
        var list = new List<Platform> { p };
        switch (p.Architecture)
        {
            case "amd64":
                {
                    int level = ParseLevel(p.Variant, 1);
                    for (int l = level - 1; l >= 1; l--) list.Add(p with { Variant = l == 1 ? null : "v" + l });
                    list.Add(p with { Architecture = "386", Variant = null });
                    break;
                }
            case "arm":
                {
                    int v = ParseLevel(p.Variant, 7);
                    for (int l = v - 1; l >= 5; l--) list.Add(p with { Variant = "v" + l });
                    break;
                }
            case "arm64":
                {
                    // arm64 variants at or below the wanted one (v8.0 = no variant), newest first, then 32-bit arm.
                    var (major, minor) = ParseArm64(p.Variant);
                    list.Clear();
                    void AddArm64(int ma, int mi)
                    {
                        if (ma == 8 && mi == 0) list.Add(p with { Variant = null });
                        else if (mi == 0) { list.Add(p with { Variant = $"v{ma}" }); list.Add(p with { Variant = $"v{ma}.0" }); }
                        else list.Add(p with { Variant = $"v{ma}.{mi}" });
                    }
                    // Armv9.x implies Armv8.(x+5) (containerd's mapping).
                    if (major >= 9) for (int mi = minor; mi >= 0; mi--) AddArm64(major, mi);
                    for (int mi = major >= 9 ? Math.Min(minor + 5, 9) : minor; mi >= 0; mi--) AddArm64(8, mi);
                    foreach (var v in new[] { "v8", "v7", "v6", "v5" }) list.Add(p with { Architecture = "arm", Variant = v });
                    break;
                }
        }
        return list;
    }

    static int ParseLevel(string? variant, int dflt) =>
        variant is { Length: > 1 } && variant[0] == 'v' && int.TryParse(variant.AsSpan(1), out int n) ? n : dflt;

    static (int Major, int Minor) ParseArm64(string? variant)
    {
        if (variant is null) return (8, 0);
        var s = variant.TrimStart('v');
        var parts = s.Split('.');
        int major = int.TryParse(parts[0], out var a) ? a : 8;
        int minor = parts.Length > 1 && int.TryParse(parts[1], out var b) ? b : 0;
        return (Math.Max(8, major), Math.Max(0, minor));
    }

    public const string AttestationReferenceTypeAnnotation = "vnd.docker.reference.type";

    /// <summary>buildx attestation manifests (`unknown/unknown` + reference-type annotation) are not images.</summary>
    public static bool IsAttestation(Platform? platform, IReadOnlyDictionary<string, string>? annotations)
    {
        if (annotations != null && annotations.TryGetValue(AttestationReferenceTypeAnnotation, out var t) && t == "attestation-manifest")
            return true;
        return platform is { Os: "unknown", Architecture: "unknown" };
    }

    /// <summary>
    /// Index entries that may serve this platform, best first: compatible entries by rank (index order breaks ties,
    /// as the spec says the first match wins), then entries with no platform (to be confirmed from their config).
    /// Attestation manifests and entries the caller marks unusable (e.g. unknown media types) are left out.
    /// </summary>
    public IReadOnlyList<int> RankEntries<T>(IReadOnlyList<T> entries, Func<T, Platform?> platformOf,
        Func<T, IReadOnlyDictionary<string, string>?> annotationsOf)
    {
        var ranked = new List<(int Rank, int Index)>();
        for (int i = 0; i < entries.Count; i++)
        {
            var p = platformOf(entries[i]);
            if (IsAttestation(p, annotationsOf(entries[i]))) continue;
            if (p is null) { ranked.Add((int.MaxValue, i)); continue; }
            if (CompatibilityRank(p) is int r) ranked.Add((r, i));
        }
        return ranked.OrderBy(x => x.Rank).ThenBy(x => x.Index).Select(x => x.Index).ToList();
    }

    /// <summary>"linux/amd64, linux/arm64/v8" for error messages (attestations left out).</summary>
    public static string DescribeAvailable<T>(IEnumerable<T> entries, Func<T, Platform?> platformOf,
        Func<T, IReadOnlyDictionary<string, string>?> annotationsOf)
    {
        var names = entries.Where(e => !IsAttestation(platformOf(e), annotationsOf(e)))
            .Select(e => platformOf(e)?.ToString() ?? "(no platform)").Distinct().ToList();
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }
}
