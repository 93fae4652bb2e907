using Zar.IO;
using Zar.Model;

namespace Zar.Consumers;

/// <summary>
/// One pass over a whole filesystem that reads every blob front to back exactly once, for sources where
/// random access is expensive (a gzip or zstd layer that was not spilled): the zar writer's path when
/// flattening an image.
/// </summary>
public static class StreamingPass
{
    /// <summary>
    /// Order: first every entry without data, in walk order (so directories come before their children and a
    /// tree can be built); then the files with data, blob by blob (<paramref name="blobOrder"/> first, then
    /// others as met), each blob's files in the order of their bytes, each blob read sequentially once. A
    /// file's further names follow it as <see cref="EntryType.Hardlink"/> entries whose LinkTarget is the
    /// path of the name that carried the data (tar stream style). The stream given with a file yields its
    /// stored bytes (holes skipped: see the <see cref="FileData"/> given with it) and is valid only during the
    /// callback; what the callback does not read is skipped. Bytes come from the blobs as stored: readers'
    /// own checks on <see cref="IReadOnlyFileSystem.Read"/> (zar digests) do not apply.
    /// </summary>
    public static void Run(IReadOnlyFileSystem fs, Action<Entry, FileData?, Stream?> visit, IReadOnlyList<IBlob>? blobOrder = null)
    {
        var all = fs.Walk().ToList();
        var primary = new Dictionary<long, Entry>();
        var secondaries = new Dictionary<long, List<Entry>>();
        var isSecondary = new HashSet<Entry>(ReferenceEqualityComparer.Instance);
        foreach (var e in all)
        {
            if (e.Type != EntryType.Regular || e.LinkCount <= 1) continue;
            if (primary.ContainsKey(e.Inode))
            {
                if (!secondaries.TryGetValue(e.Inode, out var l)) secondaries[e.Inode] = l = new List<Entry>();
                l.Add(e);
                isSecondary.Add(e);
            }
            else primary[e.Inode] = e;
        }
        var rank = new Dictionary<IBlob, int>(ReferenceEqualityComparer.Instance);
        foreach (var b in blobOrder ?? []) rank.TryAdd(b, rank.Count);
        var withData = new List<(Entry Entry, FileData Data)>();
        foreach (var e in all)
        {
            if (isSecondary.Contains(e)) continue;
            var data = e.Type == EntryType.Regular && e.Size > 0 ? fs.GetData(e) : null;
            if (data is { Segments.Count: > 0 })
            {
                rank.TryAdd(data.Segments[0].Blob, rank.Count);
                withData.Add((e, data));
            }
            else
            {
                visit(e, data, null);
                EmitLinks(e);
            }
        }
        foreach (var group in withData.GroupBy(f => f.Data.Segments[0].Blob, ReferenceEqualityComparer.Instance).OrderBy(g => rank[(IBlob)g.Key!]))
        {
            var blob = (IBlob)group.Key!;
            using var reader = new SequentialReader(blob);
            foreach (var (e, data) in group.OrderBy(f => f.Data.Segments[0].BlobOffset))
            {
                using (var stored = new StoredBytes(reader, data)) visit(e, data, stored);
                EmitLinks(e);
            }
        }

        void EmitLinks(Entry e)
        {
            if (!secondaries.TryGetValue(e.Inode, out var links)) return;
            foreach (var l in links)
                visit(new Entry
                {
                    Path = l.Path, Type = EntryType.Hardlink, LinkTarget = e.Path, Mode = l.Mode, Uid = l.Uid, Gid = l.Gid,
                    MtimeSeconds = l.MtimeSeconds, MtimeNanoseconds = l.MtimeNanoseconds, Xattrs = l.Xattrs,
                    Inode = l.Inode, LinkCount = l.LinkCount,
                }, null, null);
        }
    }

    /// <summary>A blob read front to back through one stream; reads behind the stream's position go to the blob directly.</summary>
    sealed class SequentialReader(IBlob blob) : IDisposable
    {
        public IBlob Blob => blob;
        Stream? _stream;
        long _position;

        public int Read(long offset, Span<byte> destination)
        {
            if (blob is not ISequentialBlob sequential || offset < _position && _stream != null)
                return blob.ReadAt(offset, destination);
            _stream ??= sequential.OpenSequential();
            StreamSkip.Forward(_stream, offset - _position, blob.Description);
            _position = offset;
            int n = _stream.Read(destination);
            if (n <= 0) throw new ZarFormatException($"{blob.Description}: ends inside a file's data");
            _position += n;
            return n;
        }

        public void Dispose() => _stream?.Dispose();
    }

    /// <summary>A file's stored bytes, segment after segment, through the shared reader.</summary>
    sealed class StoredBytes(SequentialReader reader, FileData data) : ReadOnlyStream
    {
        int _segment;
        long _within;

        public override long Length => data.StoredBytes;

        public override int Read(Span<byte> buffer)
        {
            while (_segment < data.Segments.Count)
            {
                var s = data.Segments[_segment];
                long left = s.Length - _within;
                if (left <= 0) { _segment++; _within = 0; continue; }
                var window = buffer[..(int)Math.Min(buffer.Length, left)];
                int n = ReferenceEquals(s.Blob, reader.Blob) ? reader.Read(s.BlobOffset + _within, window) : s.Blob.ReadAt(s.BlobOffset + _within, window);
                if (n <= 0) throw new ZarFormatException($"{s.Blob.Description}: ends inside a file's data");
                _within += n;
                return n;
            }
            return 0;
        }
    }
}
