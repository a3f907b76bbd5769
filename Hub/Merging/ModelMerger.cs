using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Hub.Merging;

/// <summary>
/// Merges a round's model updates into the next global model in one streaming pass: each declared tensor is processed
/// in chunks of <see cref="ChunkElements"/> elements, reading every update's chunk from its file with one positional
/// read, so the engine holds O(parallelism × stations × chunk) of data whatever the model's size; the new model is
/// written out chunk by chunk, in order. float32 and float64 tensors are merged by the strategy; integer and bool tensors (e.g. a batch-norm
/// step counter) are carried over when every update holds the same bytes, and refused otherwise; float16 and bfloat16
/// are refused (declare them float32).
/// </summary>
/// <remarks>
/// Headers are checked against the declared tensors before anything is written (<see cref="TensorOutputCheck"/>);
/// values are checked for NaN and infinities as the pass reads them, so a bad value throws
/// <see cref="ModelMergeException"/> part-way: write the output to a temporary file and keep it only on success. The hub
/// should check each update with <see cref="TensorOutputCheck"/> when it is uploaded, so a bad station is refused on its
/// own rather than failing the round here.
/// </remarks>
public sealed class ModelMerger
{
    /// <summary>Elements per chunk: 256 KiB of float32 per station, which keeps a 10-station chunk in L2/L3.</summary>
    public const int DefaultChunkElements = 64 * 1024;

    private readonly Func<string, Stream> open;

    /// <param name="chunkElements">Elements processed at a time per tensor.</param>
    /// <param name="open">Opens a document for reading (seekable); by default an unbuffered file, so each chunk read is one <c>pread</c>.</param>
    /// <param name="maxParallelism">Chunks merged at once, each by its own worker with its own buffers; default: one per core.</param>
    public ModelMerger(int chunkElements = DefaultChunkElements, Func<string, Stream>? open = null, int? maxParallelism = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkElements, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxParallelism ?? 1, 1, nameof(maxParallelism));
        MaxParallelism = maxParallelism ?? Environment.ProcessorCount;
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the merge engine reads safetensors' little-endian data in place");
        ChunkElements = chunkElements;
        this.open = open ?? SafeTensors.OpenRead;
    }

    public int ChunkElements { get; }

    /// <summary>Chunks merged at once; memory is O(parallelism × stations × chunk).</summary>
    public int MaxParallelism { get; }

    /// <summary>Whether tensors of <paramref name="dtype"/> are merged by the strategy (rather than carried over).</summary>
    public static bool IsMerged(string dtype) => dtype is "float32" or "float64";

    /// <summary>
    /// Problems that make a run's declared tensors unmergeable whatever the updates hold; the hub can refuse such a
    /// run before round 1.
    /// </summary>
    public static IReadOnlyList<string> CheckDeclaration(IReadOnlyList<TensorDeclaration> tensors)
    {
        var problems = new List<string>();
        if (tensors.Count == 0) problems.Add("the train declares no tensors to merge");
        foreach (var t in tensors.Where(t => t.Dtype is "float16" or "bfloat16"))
            problems.Add($"tensor '{t.Name}' is {t.Dtype}: only float32 and float64 tensors are merged (integer and bool ones are carried over); declare it float32");
        return problems;
    }

    /// <summary>
    /// Merges <paramref name="request"/>'s updates and writes the new global model to <paramref name="output"/>;
    /// fedadam also writes its moments to <paramref name="stateOutput"/> (required for fedadam, seekable, refused
    /// otherwise), to be passed back as <see cref="MergeRequest.StatePath"/> next round.
    /// </summary>
    /// <exception cref="ArgumentException">The request itself is inconsistent (strategy, stations, sample counts, streams).</exception>
    /// <exception cref="ModelMergeException">A document does not match the declared tensors or holds a non-finite value, or carried-over tensors disagree.</exception>
    public MergeResult Merge(MergeRequest request, Stream output, Stream? stateOutput = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(output);
        var strategy = request.Strategy.EnsureValid();
        CheckRequest(request, strategy, stateOutput);

        var documents = new List<Stream>();
        try
        {
            Document Open(string label, string path, IReadOnlyList<TensorDeclaration> declared, List<string> problems)
            {
                Stream stream;
                try
                {
                    stream = open(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    problems.Add($"{label}: cannot be read: {e.Message}");
                    return new Document(label, Stream.Null, null!);
                }
                documents.Add(stream);
                var report = TensorOutputCheck.CheckHeader(declared, stream);
                problems.AddRange(report.Problems.Select(p => $"{label}: {p}"));
                return new Document(label, stream, report.Header!);
            }

            var problems = new List<string>(CheckDeclaration(request.Tensors));
            var updates = request.Updates.Select(u => Open($"station '{u.Station}'", u.Path, request.Tensors, problems)).ToArray();
            var adam = strategy.Name == MergeStrategy.FedAdamName;
            var global = (adam || strategy.BoundsNorms) && request.GlobalModelPath is { } g ? Open("global model", g, request.Tensors, problems) : null;
            var state = adam && request.StatePath is { } s ? Open("fedadam state", s, FedAdamState.Declare(request.Tensors), problems) : null;
            if (problems.Count > 0) throw new ModelMergeException(problems);

            var total = request.Updates.Sum(u => u.Samples);
            var pass = new Pass(this, strategy, updates, [.. request.Updates.Select(u => (double)u.Samples / total)], global, state, output);
            // Norm bounding needs every update's distance over the whole model before any value is merged: a first pass.
            var bound = strategy.BoundsNorms ? pass.BoundNorms(request.Tensors, global is null ? "median" : "global", [.. request.Updates.Select(u => u.Station)]) : null;
            // The geometric median is a weighted mean whose weights the Weiszfeld passes find: those passes come first too.
            var weiszfeld = strategy.Name == MergeStrategy.GeometricMedianName ? pass.WeiszfeldWeights(request.Tensors, [.. request.Updates.Select(u => u.Station)]) : null;
            var metadata = Metadata(request, strategy, total);
            if (bound is not null) metadata["normBound"] = JsonSerializer.Serialize(bound, ProtocolJson.Options);
            if (weiszfeld is not null) metadata["geometricMedian"] = JsonSerializer.Serialize(weiszfeld, ProtocolJson.Options);
            var outputHeader = SafeTensors.WriteHeader(output, request.Tensors, metadata);
            if (adam)
            {
                var stateBase = stateOutput!.Position;
                var stateHeader = SafeTensors.WriteHeader(stateOutput, FedAdamState.Declare(request.Tensors),
                    new Dictionary<string, string> { ["strategy"] = strategy.Name, ["round"] = request.Round.ToString(CultureInfo.InvariantCulture) });
                pass.StateWriter = new StateWriter(stateOutput, stateBase, stateHeader);
            }

            foreach (var tensor in request.Tensors)
            {
                var elements = outputHeader.Find(tensor.Name)!.Elements;
                switch (tensor.Dtype)
                {
                    case "float32": pass.Merge<float>(tensor, elements); break;
                    case "float64": pass.Merge<double>(tensor, elements); break;
                    default: pass.CarryOver(tensor, elements); break;
                }
            }
            output.Flush();
            stateOutput?.Flush();
            return new MergeResult(strategy, request.Round, [.. request.Updates.Select(u => u.Station)], total, metadata, adam) { NormBound = bound, GeometricMedian = weiszfeld };
        }
        finally
        {
            foreach (var d in documents) d.Dispose();
        }
    }

    private static void CheckRequest(MergeRequest request, MergeStrategy strategy, Stream? stateOutput)
    {
        var errors = new List<string>();
        if (request.Round < 1) errors.Add($"round must be ≥ 1, got {request.Round}");
        if (request.Updates is not { Count: > 0 }) errors.Add("a merge needs at least one update");
        var stations = new HashSet<string>(StringComparer.Ordinal);
        foreach (var u in request.Updates ?? [])
        {
            if (string.IsNullOrEmpty(u.Station)) errors.Add("every update needs its station's name");
            else if (!stations.Add(u.Station)) errors.Add($"station '{u.Station}' has more than one update");
            if (u.Samples < 1) errors.Add($"station '{u.Station}' reports {u.Samples} samples; an update needs at least 1");
            if (string.IsNullOrEmpty(u.Path)) errors.Add($"station '{u.Station}' has no update file");
        }
        if (strategy.Name == MergeStrategy.FedAdamName)
        {
            if (stateOutput is null) errors.Add("fedadam writes its moments: pass a state output stream");
            else if (!stateOutput.CanSeek || !stateOutput.CanWrite) errors.Add("fedadam's state output must be a writable, seekable stream (a file)");
            if (request.StatePath is not null && request.GlobalModelPath is null)
                errors.Add("fedadam state was given without the global model it belongs to");
        }
        else
        {
            if (stateOutput is not null) errors.Add($"{strategy.Name} keeps no state: pass no state output");
            if (request.StatePath is not null) errors.Add($"{strategy.Name} keeps no state: pass no state path");
        }
        if (errors.Count > 0) throw new ArgumentException("invalid merge request: " + string.Join("; ", errors), nameof(request));
    }

    private static Dictionary<string, string> Metadata(MergeRequest request, MergeStrategy strategy, long total) => new()
    {
        ["strategy"] = strategy.Name,
        ["strategyParameters"] = JsonSerializer.Serialize(strategy, ProtocolJson.Options),
        ["round"] = request.Round.ToString(CultureInfo.InvariantCulture),
        ["contributors"] = JsonSerializer.Serialize(request.Updates.Select(u => new { station = u.Station, samples = u.Samples })),
        ["samples"] = total.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>An opened document. Reads are positional and thread-safe: <c>pread</c> on a file, a locked seek and read otherwise.</summary>
    private sealed record Document(string Label, Stream Stream, SafeTensorsHeader Header)
    {
        public void Read(string tensor, long byteOffset, Span<byte> destination)
        {
            var info = Header.Find(tensor)!;
            if (Stream is FileStream file)
            {
                if (byteOffset < 0 || byteOffset + destination.Length > info.Length) throw new ArgumentOutOfRangeException(nameof(byteOffset));
                var position = Header.DataStart + info.Offset + byteOffset;
                while (destination.Length > 0)
                {
                    var n = RandomAccess.Read(file.SafeFileHandle, destination, position);
                    if (n == 0) throw new EndOfStreamException($"{Label} ends inside tensor '{tensor}'");
                    destination = destination[n..];
                    position += n;
                }
                return;
            }
            lock (Stream) SafeTensors.ReadRange(Stream, Header, info, byteOffset, destination);
        }
    }

    private sealed record StateWriter(Stream Stream, long Base, SafeTensorsHeader Header)
    {
        public void Write(string tensor, long byteOffset, ReadOnlySpan<byte> data)
        {
            Stream.Position = Base + Header.DataStart + Header.Find(tensor)!.Offset + byteOffset;
            Stream.Write(data);
        }
    }

    /// <summary>
    /// One merge's pass. Chunks are merged in batches, one chunk per worker in parallel, each worker with its own
    /// buffers (allocated once per element type), then written out in order by the calling thread.
    /// </summary>
    private sealed class Pass(ModelMerger engine, MergeStrategy strategy, Document[] updates, double[] weights,
        Document? global, Document? state, Stream output)
    {
        private readonly Dictionary<Type, object> workers = [];
        private readonly ParallelOptions parallel = new() { MaxDegreeOfParallelism = engine.MaxParallelism };
        private byte[]? carryBuffers;
        /// <summary>Per update, the factor its distance from the reference is scaled by (norm bounding); null without it.</summary>
        private double[]? scales;

        /// <summary>fedadam: where the moments go.</summary>
        public StateWriter? StateWriter { get; set; }

        /// <summary>
        /// A worker's buffers: the sorting strategies and norm bounding hold every station's chunk at once, the means one
        /// at a time; norm bounding also holds the reference chunk, and a copy of the rows to sort when the reference is
        /// the median.
        /// </summary>
        private sealed class Worker<T>(int rows, int chunk, bool adam, bool bound, bool medianReference, bool distances) where T : unmanaged
        {
            public readonly T[][] Rows = [.. Enumerable.Range(0, rows).Select(_ => new T[chunk])];
            public T[] Spare = new T[chunk];
            public readonly T[] Result = new T[chunk];
            public readonly T[] Global = adam ? new T[chunk] : [];
            public readonly T[] M = adam ? new T[chunk] : [];
            public readonly T[] V = adam ? new T[chunk] : [];
            public readonly T[] Reference = bound ? new T[chunk] : [];
            public readonly T[][] Sorted = medianReference ? [.. Enumerable.Range(0, rows).Select(_ => new T[chunk])] : [];
            public T[] SortSpare = medianReference ? new T[chunk] : [];
            public readonly double[] Distances = bound || distances ? new double[rows] : [];
            public long Start;
            public int N;
        }

        private bool HoldsAllRows => Sorts || strategy.BoundsNorms || strategy.Name == MergeStrategy.GeometricMedianName;

        /// <summary>
        /// Smoothed Weiszfeld (RFA): z = Σ βₖwₖ / Σ βₖ with βₖ = αₖ / max(ν, ‖z − wₖ‖), starting from the sample-weighted
        /// mean. z is never stored: each iteration is one pass that rebuilds z chunk by chunk from the rows and the current
        /// weights and sums every station's squared distance to it. Stops when the objective Σ αₖ‖z − wₖ‖ improves by less
        /// than a millionth, or after <see cref="MergeStrategy.GeometricMedianIterations"/>. The final weights replace
        /// the sample weights for the merge itself.
        /// </summary>
        public GeometricMedianReport WeiszfeldWeights(IReadOnlyList<TensorDeclaration> tensors, IReadOnlyList<string> stations)
        {
            var alpha = (double[])weights.Clone();
            var beta = (double[])alpha.Clone();
            var objective = double.PositiveInfinity;
            var iterations = 0;
            double[] distances = [];
            while (iterations < MergeStrategy.GeometricMedianIterations)
            {
                distances = Distances(tensors, beta);
                iterations++;
                var next = alpha.Select((a, k) => a * distances[k]).Sum();
                for (var k = 0; k < beta.Length; k++) beta[k] = alpha[k] / Math.Max(MergeStrategy.GeometricMedianSmoothing, distances[k]);
                var sum = beta.Sum();
                for (var k = 0; k < beta.Length; k++) beta[k] /= sum;
                if (objective - next <= 1e-6 * next) break;
                objective = next;
            }
            Array.Copy(beta, weights, beta.Length);
            return new GeometricMedianReport(iterations, [.. stations.Select((station, k) => new GeometricMedianStation(station, distances[k], beta[k]))]);
        }

        /// <summary>
        /// Every update's Euclidean distance over all merged tensors, in one pass: from the norm-bounding reference when
        /// <paramref name="meanWeights"/> is null, else from the mean of the (bounded, if bounding is on) updates weighted by it.
        /// </summary>
        private double[] Distances(IReadOnlyList<TensorDeclaration> tensors, double[]? meanWeights)
        {
            var squared = new double[updates.Length];
            void Tensor<T>(TensorDeclaration tensor) where T : unmanaged, IFloatingPointIeee754<T>
            {
                var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
                var typed = meanWeights?.Select(T.CreateChecked).ToArray();
                ForEachChunk<T>(updates[0].Header.Find(tensor.Name)!.Elements,
                    w => Guarded(w, () =>
                    {
                        ReadRows(tensor, size, w);
                        Span<T> center;
                        if (typed is null)
                        {
                            ReferenceChunk(tensor, size, w);
                            center = w.Reference.AsSpan(0, w.N);
                        }
                        else
                        {
                            Bound(tensor, size, w); // the median of what will be merged: the bounded updates, if bounding is on
                            center = w.Result.AsSpan(0, w.N);
                            TensorPrimitives.Multiply(w.Rows[0].AsSpan(0, w.N), typed[0], center);
                            for (var k = 1; k < updates.Length; k++) TensorPrimitives.MultiplyAdd(w.Rows[k].AsSpan(0, w.N), typed[k], center, center);
                        }
                        for (var k = 0; k < updates.Length; k++)
                        {
                            var d = double.CreateChecked(TensorPrimitives.Distance<T>(w.Rows[k].AsSpan(0, w.N), center));
                            w.Distances[k] = d * d;
                        }
                    }),
                    w =>
                    {
                        for (var k = 0; k < updates.Length; k++) squared[k] += w.Distances[k];
                    });
            }
            foreach (var tensor in tensors)
            {
                if (tensor.Dtype == "float32") Tensor<float>(tensor);
                else if (tensor.Dtype == "float64") Tensor<double>(tensor);
            }
            return [.. squared.Select(Math.Sqrt)];
        }

        private Worker<T>[] Pool<T>() where T : unmanaged
        {
            if (!workers.TryGetValue(typeof(T), out var o))
                workers[typeof(T)] = o = Enumerable.Range(0, engine.MaxParallelism)
                    .Select(_ => new Worker<T>(HoldsAllRows ? updates.Length : 1, engine.ChunkElements, strategy.Name == MergeStrategy.FedAdamName,
                        strategy.BoundsNorms, strategy.BoundsNorms && global is null, HoldsAllRows))
                    .ToArray();
            return (Worker<T>[])o;
        }

        /// <summary>Runs <paramref name="chunk"/> over every chunk of a tensor, a batch of chunks (one per worker) at a time, then <paramref name="done"/> on the batch in order.</summary>
        private void ForEachChunk<T>(long elements, Action<Worker<T>> chunk, Action<Worker<T>> done) where T : unmanaged
        {
            var pool = Pool<T>();
            var chunks = (elements + engine.ChunkElements - 1) / engine.ChunkElements;
            for (long first = 0; first < chunks; first += pool.Length)
            {
                var count = (int)Math.Min(pool.Length, chunks - first);
                for (var i = 0; i < count; i++)
                {
                    pool[i].Start = (first + i) * engine.ChunkElements;
                    pool[i].N = (int)Math.Min(engine.ChunkElements, elements - pool[i].Start);
                }
                if (count == 1) chunk(pool[0]);
                else
                {
                    try
                    {
                        Parallel.For(0, count, parallel, i => chunk(pool[i]));
                    }
                    catch (AggregateException e) when (e.InnerExceptions.All(x => x is ModelMergeException))
                    {
                        throw new ModelMergeException([.. e.InnerExceptions.OrderBy(x => (long)x.Data["start"]!).Cast<ModelMergeException>().First().Problems]);
                    }
                }
                for (var i = 0; i < count; i++) done(pool[i]);
            }
        }

        /// <summary>
        /// The norm-bounding pass: every update's Euclidean distance from the reference over all merged tensors, then
        /// the factor that brings each distance down to at most the median distance.
        /// </summary>
        public NormBoundReport BoundNorms(IReadOnlyList<TensorDeclaration> tensors, string reference, IReadOnlyList<string> stations)
        {
            var distances = Distances(tensors, meanWeights: null);
            var sorted = distances.Order().ToArray();
            var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            scales = [.. distances.Select(d => d > median ? median / d : 1.0)];
            if (!double.IsFinite(median))
                throw new ModelMergeException([$"the updates' distances from the {reference} reference overflow: {string.Join(", ", distances)}"]);
            return new NormBoundReport(reference, median,
                [.. stations.Select((station, k) => new NormBoundStation(station, distances[k], scales[k]))]);
        }

        /// <summary>With norm bounding (once its factors are known): each row = reference + scale·(row − reference), in place.</summary>
        private void Bound<T>(TensorDeclaration tensor, int size, Worker<T> w) where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (scales is null) return;
            ReferenceChunk(tensor, size, w);
            var reference = w.Reference.AsSpan(0, w.N);
            for (var k = 0; k < updates.Length; k++)
            {
                if (scales[k] >= 1) continue;
                var row = w.Rows[k].AsSpan(0, w.N);
                TensorPrimitives.Subtract(row, reference, row);
                TensorPrimitives.MultiplyAdd(row, T.CreateChecked(scales[k]), reference, row);
            }
        }

        private void ReadRows<T>(TensorDeclaration tensor, int size, Worker<T> w) where T : unmanaged, IFloatingPointIeee754<T>
        {
            for (var k = 0; k < updates.Length; k++)
                ReadChecked(updates[k], tensor, w.Start, size, MemoryMarshal.AsBytes(w.Rows[k].AsSpan(0, w.N)));
        }

        /// <summary>The norm-bounding reference for the worker's chunk: the global model's values, or the rows' coordinate-wise median.</summary>
        private void ReferenceChunk<T>(TensorDeclaration tensor, int size, Worker<T> w) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var n = w.N;
            if (global is not null)
            {
                ReadChecked(global, tensor, w.Start, size, MemoryMarshal.AsBytes(w.Reference.AsSpan(0, n)));
                return;
            }
            for (var k = 0; k < updates.Length; k++) w.Rows[k].AsSpan(0, n).CopyTo(w.Sorted[k]);
            MergeKernels.SortCoordinates(w.Sorted, n, ref w.SortSpare);
            var half = updates.Length / 2;
            MergeKernels.MeanOfRows(w.Sorted, n, updates.Length % 2 == 1 ? half : half - 1, half + 1, w.Reference.AsSpan(0, n));
        }

        private static void Guarded<T>(Worker<T> w, Action work) where T : unmanaged
        {
            try
            {
                work();
            }
            catch (ModelMergeException e)
            {
                e.Data["start"] = w.Start; // so that of several failing chunks the first is reported
                throw;
            }
        }

        public void Merge<T>(TensorDeclaration tensor, long elements) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var adam = strategy.Name == MergeStrategy.FedAdamName;
            var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            var typedWeights = weights.Select(T.CreateChecked).ToArray();
            ForEachChunk<T>(elements, w => MergeChunk(tensor, size, w, typedWeights), w =>
            {
                output.Write(MemoryMarshal.AsBytes(w.Result.AsSpan(0, w.N)));
                if (!adam) return;
                StateWriter!.Write(FedAdamState.FirstMoment(tensor.Name), w.Start * size, MemoryMarshal.AsBytes(w.M.AsSpan(0, w.N)));
                StateWriter.Write(FedAdamState.SecondMoment(tensor.Name), w.Start * size, MemoryMarshal.AsBytes(w.V.AsSpan(0, w.N)));
            });
        }

        private void MergeChunk<T>(TensorDeclaration tensor, int size, Worker<T> w, T[] typedWeights) where T : unmanaged, IFloatingPointIeee754<T>
        {
            try
            {
                var n = w.N;
                if (HoldsAllRows) ReadRows(tensor, size, w);
                Bound(tensor, size, w);
                var result = w.Result.AsSpan(0, n);
                switch (strategy.Name)
                {
                    case MergeStrategy.FedAvgName or MergeStrategy.FedProxName or MergeStrategy.GeometricMedianName:
                        WeightedMean(tensor, size, w, typedWeights, result);
                        break;
                    case MergeStrategy.MedianName:
                        MergeKernels.SortCoordinates(w.Rows, n, ref w.Spare);
                        var half = updates.Length / 2;
                        MergeKernels.MeanOfRows(w.Rows, n, updates.Length % 2 == 1 ? half : half - 1, half + 1, result);
                        break;
                    case MergeStrategy.TrimmedMeanName:
                        MergeKernels.SortCoordinates(w.Rows, n, ref w.Spare);
                        var trim = strategy.TrimmedPerEnd(updates.Length);
                        MergeKernels.MeanOfRows(w.Rows, n, trim, updates.Length - trim, result);
                        break;
                    case MergeStrategy.FedAdamName:
                        FedAdamChunk(tensor, size, w, typedWeights);
                        break;
                    default:
                        throw new InvalidOperationException($"strategy '{strategy.Name}' has no merge");
                }
            }
            catch (ModelMergeException e)
            {
                e.Data["start"] = w.Start; // so that of several failing chunks the first is reported
                throw;
            }
        }

        private void FedAdamChunk<T>(TensorDeclaration tensor, int size, Worker<T> w, T[] typedWeights)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var (start, n) = (w.Start, w.N);
            var result = w.Result.AsSpan(0, n);
            var m = w.M.AsSpan(0, n);
            var v = w.V.AsSpan(0, n);
            if (global is null)
            {
                // Round 1 without a model: the weighted mean, and moments that start at zero.
                WeightedMean(tensor, size, w, typedWeights, result);
                m.Clear();
                v.Clear();
                return;
            }
            var mean = w.Spare.AsSpan(0, n);
            WeightedMean(tensor, size, w, typedWeights, mean);
            ReadChecked(global, tensor, start, size, MemoryMarshal.AsBytes(w.Global.AsSpan(0, n)));
            if (state is null)
            {
                m.Clear();
                v.Clear();
            }
            else
            {
                ReadChecked(state, tensor with { Name = FedAdamState.FirstMoment(tensor.Name) }, start, size, MemoryMarshal.AsBytes(m));
                ReadChecked(state, tensor with { Name = FedAdamState.SecondMoment(tensor.Name) }, start, size, MemoryMarshal.AsBytes(v));
            }
            // The first row's buffer is free once the mean is taken: it serves as the step's scratch.
            MergeKernels.FedAdamStep(mean, w.Global.AsSpan(0, n), m, v, result, w.Rows[0].AsSpan(0, n),
                T.CreateChecked(strategy.EffectiveServerLearningRate), T.CreateChecked(strategy.EffectiveBeta1),
                T.CreateChecked(strategy.EffectiveBeta2), T.CreateChecked(strategy.EffectiveTau));
        }

        private bool Sorts => strategy.Name is MergeStrategy.MedianName or MergeStrategy.TrimmedMeanName;

        /// <summary>
        /// destination = Σ wₖ·updateₖ over the worker's chunk, each station's chunk read into the same buffer in turn,
        /// as a plain streaming sum would. The result is checked instead of every input: a NaN or infinity in any update
        /// makes it non-finite (as would an overflow), and only then are the chunks read again to name the stations.
        /// </summary>
        private void WeightedMean<T>(TensorDeclaration tensor, int size, Worker<T> w, T[] typedWeights, Span<T> destination)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (HoldsAllRows)
            {
                // The rows are in memory (read checked, perhaps norm-bounded): no second read.
                TensorPrimitives.Multiply(w.Rows[0].AsSpan(0, w.N), typedWeights[0], destination);
                for (var k = 1; k < updates.Length; k++)
                    TensorPrimitives.MultiplyAdd(w.Rows[k].AsSpan(0, w.N), typedWeights[k], destination, destination);
                if (TensorOutputCheck.CountNonFinite(tensor.Dtype, MemoryMarshal.AsBytes(destination)).Total == 0) return;
                throw new ModelMergeException([$"tensor '{tensor.Name}': the weighted mean overflows {tensor.Dtype} near element {w.Start}"]);
            }
            var row = w.Rows[0].AsSpan(0, w.N);
            for (var k = 0; k < updates.Length; k++)
            {
                updates[k].Read(tensor.Name, w.Start * size, MemoryMarshal.AsBytes(row));
                if (k == 0) TensorPrimitives.Multiply(row, typedWeights[0], destination);
                else TensorPrimitives.MultiplyAdd(row, typedWeights[k], destination, destination);
            }
            if (TensorOutputCheck.CountNonFinite(tensor.Dtype, MemoryMarshal.AsBytes(destination)).Total == 0) return;
            var problems = new List<string>();
            foreach (var update in updates)
            {
                update.Read(tensor.Name, w.Start * size, MemoryMarshal.AsBytes(row));
                var bad = TensorOutputCheck.CountNonFinite(tensor.Dtype, MemoryMarshal.AsBytes(row));
                if (bad.Total > 0) problems.Add($"{update.Label}: {bad.At(w.Start).Describe(tensor.Name)}");
            }
            if (problems.Count == 0)
                problems.Add($"tensor '{tensor.Name}': the weighted mean overflows {tensor.Dtype} near element {w.Start}");
            throw new ModelMergeException(problems);
        }

        private static void ReadChecked(Document document, TensorDeclaration tensor, long start, int size, Span<byte> destination)
        {
            document.Read(tensor.Name, start * size, destination);
            var bad = TensorOutputCheck.CountNonFinite(tensor.Dtype, destination);
            if (bad.Total > 0) throw new ModelMergeException([$"{document.Label}: {bad.At(start).Describe(tensor.Name)}"]);
        }

        /// <summary>Integer and bool tensors: every update must hold the same bytes, which the new model keeps.</summary>
        public void CarryOver(TensorDeclaration tensor, long elements)
        {
            var size = SafeTensors.ElementSize(tensor.Dtype);
            var chunkBytes = engine.ChunkElements * size;
            carryBuffers ??= new byte[2 * engine.ChunkElements * 8];
            for (long start = 0; start < elements; start += engine.ChunkElements)
            {
                var bytes = (int)Math.Min(engine.ChunkElements, elements - start) * size;
                var first = carryBuffers.AsSpan(0, bytes);
                var other = carryBuffers.AsSpan(chunkBytes, bytes);
                updates[0].Read(tensor.Name, start * size, first);
                for (var k = 1; k < updates.Length; k++)
                {
                    updates[k].Read(tensor.Name, start * size, other);
                    if (!first.SequenceEqual(other))
                        throw new ModelMergeException([
                            $"tensor '{tensor.Name}' is {tensor.Dtype}, which is not merged but carried over, and {updates[k].Label} differs from {updates[0].Label} " +
                            $"(first at element {start + first.CommonPrefixLength(other) / size}); declare it float32 or float64 to merge it"]);
                }
                output.Write(first);
            }
        }
    }
}
