using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Merging;

/// <summary>The engine's memory bound, measured by what it reads and allocates rather than by time.</summary>
public class ModelMergerMemoryTests : IDisposable
{
    private readonly ModelFiles files = new();

    public void Dispose() => files.Dispose();

    [Theory]
    [InlineData(MergeStrategy.FedAvgName)]
    [InlineData(MergeStrategy.MedianName)]
    [InlineData(MergeStrategy.FedAdamName)]
    public void Holds_only_chunks_of_the_updates_never_whole_ones(string name)
    {
        const int Stations = 6, Chunk = 4096, Parallelism = 2;
        TensorDeclaration[] tensors =
        [
            new() { Name = "big", Shape = [600_001], Dtype = "float32" },
            new() { Name = "other", Shape = [3, 33_333], Dtype = "float64" },
        ];
        var paths = Enumerable.Range(0, Stations).Select(k => files.Write($"u{k}.safetensors", ModelFiles.Random(k, tensors), tensors)).ToList();
        var global = files.Write("global.safetensors", ModelFiles.Random(99, tensors), tensors);
        var updates = paths.Select((p, k) => new ModelUpdate($"s{k}", p, 100 + k)).ToList();
        var updateBytes = paths.Sum(p => new FileInfo(p).Length);
        var strategy = new MergeStrategy { Name = name };
        var streams = new List<CountingStream>();
        var merger = new ModelMerger(Chunk, path =>
        {
            var s = new CountingStream(File.OpenRead(path));
            lock (streams) streams.Add(s);
            return s;
        }, Parallelism);
        var request = new MergeRequest { Strategy = strategy, Tensors = tensors, Updates = updates, GlobalModelPath = global };
        void Run()
        {
            using var output = File.Create(Path.Combine(files.Dir, "out.safetensors"));
            using var state = File.Create(Path.Combine(files.Dir, "state.safetensors"));
            merger.Merge(request, output, name == MergeStrategy.FedAdamName ? state : null);
        }
        Run(); // compile everything once, so the measured run allocates only what the merge itself needs
        streams.Clear();

        var before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Every update byte is read exactly once, in reads no larger than one chunk of float64.
        var updateStreams = streams.Where(s => paths.Contains(s.Name)).ToList();
        Assert.Equal(Stations, updateStreams.Count);
        Assert.All(updateStreams, s => Assert.True(s.Size == s.BytesRead, $"{s.Name}: read {s.BytesRead} of {s.Size} bytes"));
        Assert.All(streams, s => Assert.InRange(s.LargestRead, 1, Chunk * sizeof(double)));
        // Allocations (on this thread, where the workers' buffers are made): per worker, a chunk per station and five more,
        // for float32 and float64, and bookkeeping; not the updates (here 6 × 3.2 MB).
        var bound = Parallelism * (Stations + 5) * Chunk * (sizeof(float) + sizeof(double)) + 512 * 1024;
        Assert.True(allocated < bound, $"the merge allocated {allocated} bytes; bound {bound}, updates {updateBytes}");
        Assert.True(bound < updateBytes / 8);
    }

    private sealed class CountingStream(FileStream inner) : Stream
    {
        public string Name => inner.Name;
        public long Size { get; } = inner.Length;
        public long BytesRead { get; private set; }
        public int LargestRead { get; private set; }

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            BytesRead += n;
            LargestRead = Math.Max(LargestRead, buffer.Length);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
