using Zar.Model;

namespace Zar.Sources.Layers;

/// <summary>
/// One layer of an image as a read-only filesystem: the layer's tree (see <see cref="LayerStack.GetLayer"/>),
/// metadata in memory, file data read from the layer's tar (<see cref="LayerBlob"/>) on demand.
/// </summary>
public sealed class LayerTreeFileSystem : IReadOnlyFileSystem
{
    readonly FrozenTree _tree;

    internal LayerTreeFileSystem(string description, FrozenTree tree)
    {
        Description = description;
        _tree = tree;
    }

    public string Description { get; }
    public Entry Root => _tree.Root;
    public int Count => _tree.ByPath.Count;

    public Entry? Lookup(string path) => _tree.ByPath.GetValueOrDefault(path);

    public IEnumerable<Entry> List(Entry directory) =>
        _tree.Children.TryGetValue(directory.Path, out var list) ? list : Array.Empty<Entry>();

    public FileData GetData(Entry file)
    {
        if (file.Type != EntryType.Regular) throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: not a regular file");
        if (!_tree.Data.TryGetValue(file.Inode, out var data) || data.Size != file.Size)
            throw new ZarException($"{Description}: {ZarPath.Display(file.Path)}: entry does not belong to this image");
        return data;
    }

    public FileSystemTotals GetTotals() =>
        new(_tree.ByPath.Values.Select(e => e.Inode).Distinct().LongCount(), _tree.Data.Values.Sum(d => d.StoredBytes), 4096);

    public void Dispose() { }
}
