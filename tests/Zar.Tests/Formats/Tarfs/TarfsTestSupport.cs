using Zar.Formats.Erofs;
using Zar.Sources.Layers;
using Zar.Tests.Formats.Erofs;
using Zar.Tests.Sources.Layers;
using Zar.Tests.Support;

namespace Zar.Tests.Formats.Tarfs;

/// <summary>
/// Five layers covering what a tar can hold: the merge tests' three (PAX sparse, hardlinks within and across
/// layers, whiteouts, opaque dirs, implicit parents, xattrs; gzip and zstd), a POSIX layer with long names and
/// security.capability, and a GNU layer with GNU long names and links, a GNU sparse member and a non-UTF-8 name.
/// </summary>
sealed class TarfsLayers
{
    public required List<string> PlainTars { get; init; }
    public required List<string> Blobs { get; init; }
    public required List<List<(string Name, string Target)>> Hardlinks { get; init; }

    public const string CapabilityFile = "caps/ping";
    /// <summary>cap_net_raw+ep, version 2 (what setcap writes).</summary>
    public static readonly byte[] Capability = Convert.FromBase64String("AQAAAgAgAAAAAAAAAAAAAAAAAAA=");

    public static TarfsLayers Create(TempDir t)
    {
        var l4src = t["src4"];
        var longDir = "long-" + new string('d', 90) + "/" + new string('e', 80);
        Directory.CreateDirectory(Path.Combine(l4src, longDir));
        Directory.CreateDirectory(Path.Combine(l4src, "caps"));
        File.WriteAllText(Path.Combine(l4src, longDir, "file-with-a-long-path-" + new string('f', 60)), "pax long name");
        File.WriteAllText(Path.Combine(l4src, CapabilityFile), "ping");
        Tools.Sh($$"""
            set -e
            cd '{{l4src}}'
            setfattr -n security.capability -v 0s{{Convert.ToBase64String(Capability)}} {{CapabilityFile}}
            setfattr -n user.note -v "pax xattr" {{CapabilityFile}}
            head -c 70000 /dev/urandom > caps/odd-size
            find . -exec touch -h -d '2022-02-03 04:05:06' {} +
            tar --format=posix --xattrs --xattrs-include='*' --numeric-owner -cf '{{t["layer4.tar"]}}' .
            """);

        var l5src = t["src5"];
        Directory.CreateDirectory(l5src);
        Tools.Sh($$"""
            set -e
            cd '{{l5src}}'
            mkdir -p gnu/{{new string('g', 120)}}
            printf 'gnu long name' > gnu/{{new string('g', 120)}}/{{new string('h', 110)}}
            ln -s {{new string('t', 150)}} gnu/long-link
            truncate -s 5000000 gnu/sparse
            printf 'first extent' | dd of=gnu/sparse bs=1 seek=1000 conv=notrunc status=none
            head -c 9000 /dev/urandom | dd of=gnu/sparse bs=1 seek=3000000 conv=notrunc status=none
            printf 'tail' | dd of=gnu/sparse bs=1 seek=4999996 conv=notrunc status=none
            printf 'latin-1 name' > "gnu/caf$(printf '\351')"
            find . -exec touch -h -d '2022-05-06 07:08:09' {} +
            tar --format=gnu -S --numeric-owner -cf '{{t["layer5.tar"]}}' .
            """);

        var plain = new List<string>
        {
            OverlayMergeTests.MakeLayer1(t), Write(t, "layer2.tar", OverlayMergeTests.Layer2().Build()),
            Write(t, "layer3.tar", OverlayMergeTests.Layer3().Build()), t["layer4.tar"], t["layer5.tar"],
        };
        var compression = new[] { Compression.None, Compression.Gzip, Compression.Zstd, Compression.Gzip, Compression.None };
        var blobs = plain.Select((p, i) => compression[i] == Compression.None ? p : Write(t, $"blob{i + 1}", Compress.Apply(File.ReadAllBytes(p), compression[i]))).ToList();
        var hardlinks = new List<List<(string, string)>> { new(), OverlayMergeTests.Layer2().Hardlinks, OverlayMergeTests.Layer3().Hardlinks, new(), new() };
        return new TarfsLayers { PlainTars = plain, Blobs = blobs, Hardlinks = hardlinks };
    }

    public LayerStack OpenStack() => LayerStack.Open(new FileLayersSource(Blobs));

    /// <summary>The reference: each layer extracted by GNU tar into overlay form, stacked by the kernel's overlayfs. Returns the merged mount.</summary>
    public string ReferenceOverlay(TempDir t, Mounts mounts)
    {
        var lowers = new List<string>();
        string? lowerView = null;
        for (int i = 0; i < PlainTars.Count; i++)
        {
            var dir = t[$"ref{i + 1}"];
            OverlayMergeTests.ExtractReferenceLayer(PlainTars[i], dir, lowerView, Hardlinks[i]);
            lowers.Insert(0, dir);
            lowerView = i == 0 ? dir : mounts.Overlay(t[$"refmnt{i + 1}"], lowers);
        }
        return lowerView!;
    }

    static string Write(TempDir t, string name, byte[] bytes)
    {
        File.WriteAllBytes(t[name], bytes);
        return t[name];
    }

    /// <summary>fsck.erofs 1.9.3 reads every file of a one-file disk when given the tars that are embedded in it (it has no flat mode).</summary>
    public static void Fsck(string disk, IEnumerable<string> tars)
    {
        var fsck = ErofsUtils.Require("fsck.erofs");
        var r = Tools.Run(fsck, [.. tars.Select(d => "--device=" + d), "--extract", disk]);
        Assert.True(r.Code == 0, $"fsck.erofs --extract {disk} failed: {r.Out}{r.Err}");
    }
}
