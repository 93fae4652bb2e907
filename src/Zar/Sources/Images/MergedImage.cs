using Zar.Model;
using Zar.Oci;
using Zar.Sources.Layers;

namespace Zar.Sources.Images;

/// <summary>The merged filesystem of a layer stack that owns it (disposing it disposes the stack and its source).</summary>
public sealed class MergedImage(LayerStack stack) : IReadOnlyFileSystem
{
    public LayerStack Stack { get; } = stack;
    public string Description => Stack.Merged.Description;
    public Entry Root => Stack.Merged.Root;
    public Entry? Lookup(string path) => Stack.Merged.Lookup(path);
    public IEnumerable<Entry> List(Entry directory) => Stack.Merged.List(directory);
    public Entry? Lookup(Entry directory, string name) => Stack.Merged.Lookup(directory, name);
    public FileData GetData(Entry file) => Stack.Merged.GetData(file);
    public int Read(Entry file, long offset, Span<byte> destination) => Stack.Merged.Read(file, offset, destination);
    public FileSystemTotals GetTotals() => ((IReadOnlyFileSystem)Stack.Merged).GetTotals();
    public ImageConfig Config => Stack.Source.Config;
    public void Dispose() => Stack.Dispose();
}
