using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Bench;

/// <summary>
/// Merge throughput (update bytes merged per second) of the hub's engine over 3 and 10 stations' updates of a
/// ~25M-parameter float32 model on disk (warm page cache), against a streaming-sum baseline that reads the same bytes
/// the same way, and against Flower's numpy FedAvg over the same data in memory.
/// </summary>
public static class MergeBench
{
    private const int Repeats = 5;
    private static readonly int[] StationCounts = [3, 10];

    /// <summary>A transformer-ish layout of 24.9M float32 parameters, with odd-sized biases.</summary>
    public static IReadOnlyList<TensorDeclaration> Model()
    {
        var tensors = new List<TensorDeclaration> { T("embed.weight", 20000, 256), T("embed.proj", 256, 768) };
        for (var i = 0; i < 8; i++)
        {
            tensors.Add(T($"blocks.{i}.norm.weight", 768));
            tensors.Add(T($"blocks.{i}.fc1.weight", 768, 1536));
            tensors.Add(T($"blocks.{i}.fc1.bias", 1536));
            tensors.Add(T($"blocks.{i}.fc2.weight", 1536, 768));
            tensors.Add(T($"blocks.{i}.fc2.bias", 768));
        }
        tensors.Add(T("head.weight", 768, 1001));
        tensors.Add(T("head.bias", 1001));
        return tensors;

        static TensorDeclaration T(string name, params long[] shape) => new() { Name = name, Shape = shape, Dtype = "float32" };
    }

    public static void Run(TextWriter output)
    {
        var tensors = Model();
        var parameters = tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));
        var dir = Path.Combine(RepoPaths.WorkDir, "bench", "merge");
        Directory.CreateDirectory(dir);
        var paths = Enumerable.Range(0, StationCounts.Max()).Select(k => Update(dir, k, tensors, output)).ToList();
        var fileBytes = new FileInfo(paths[0]).Length;
        output.WriteLine($"merge: {parameters / 1e6:F1}M float32 parameters ({fileBytes / 1e6:F0} MB per update), chunk {ModelMerger.DefaultChunkElements} elements, {Environment.ProcessorCount} workers, " +
                         $"best of {Repeats} (baseline and fedavg: best of {2 * Repeats}, alternating), {Environment.ProcessorCount} cores, load average {LoadAverage()}");
        var python = PythonVersion();

        var rows = new List<string>();
        foreach (var stations in StationCounts)
        {
            var updates = paths.Take(stations).Select((p, k) => new ModelUpdate($"station-{k}", p, 1000 + 137 * k)).ToList();
            var bytes = fileBytes * stations;
            // Warm the page cache, and let the tiered JIT optimise the loops before anything is timed.
            for (var i = 0; i < 3; i++) StreamingSum(tensors, updates);
            new ModelMerger().Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = tensors, Updates = updates }, Stream.Null);
            var outPath = Path.Combine(dir, "merged.safetensors");
            // The merge into Stream.Null is what the baseline and numpy do (nothing written); into a file adds writing the new model.
            double Merge(MergeStrategy strategy, bool toFile = false) => Best(() =>
            {
                using var merged = toFile ? new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20) : Stream.Null;
                new ModelMerger().Merge(new MergeRequest { Strategy = strategy, Tensors = tensors, Updates = updates }, merged);
            });
            // Baseline and fedavg alternate, so that both see the same share of a machine others may be using.
            var (baseline, fedavg) = BestOfAlternating(() => StreamingSum(tensors, updates),
                () => new ModelMerger().Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = tensors, Updates = updates }, Stream.Null));
            var median = Merge(MergeStrategy.Median());
            var trimmed = Merge(MergeStrategy.TrimmedMean(0.2));
            var fedavgFile = Merge(MergeStrategy.FedAvg(), toFile: true); // leaves FedAvg's model for the comparison with numpy
            var flower = python is null ? null : Flower(updates, outPath);

            string Rate(double seconds) => $"{bytes / 1e9 / seconds:F2} GB/s ({seconds:F3} s)";
            output.WriteLine($"  {stations} stations: baseline {Rate(baseline)}, fedavg {Rate(fedavg)}, fedavg written to a file {Rate(fedavgFile)}, median {Rate(median)}, trimmed-mean(0.2) {Rate(trimmed)}" +
                             (flower is { } f ? $", numpy (Flower aggregate) {Rate(f.Seconds)} after loading the files in {f.LoadSeconds:F3} s, max |numpy − fedavg| {f.MaxAbsDiff:G3}" : ", numpy not available"));
            // InvariantGlobalization: the current culture is the invariant one.
            rows.Add(
                $"| {stations} | {bytes / 1e9:F2} GB | {Rate(baseline)} | {Rate(fedavg)} | **{baseline / fedavg:F2}** | {Rate(fedavgFile)} ({baseline / fedavgFile:F2}) | {Rate(median)} ({baseline / median:F2}) | " +
                $"{Rate(trimmed)} ({baseline / trimmed:F2}) | " + (flower is { } g ? $"{Rate(g.Seconds)} | **{g.Seconds / fedavg:F1}×** |" : "— | — |"));
        }

        output.WriteLine();
        output.WriteLine($"| stations | update bytes | baseline (streaming sum) | fedavg | fedavg ÷ baseline | fedavg written to a file (÷ baseline) | median (÷ baseline) | trimmed-mean β=0.2 (÷ baseline) | numpy, Flower aggregate ({python ?? "absent"}) | fedavg speed-up over numpy |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) output.WriteLine(row);
    }

    /// <summary>
    /// The baseline: the engine's reading scheme — batches of one chunk per core, each chunk of each update read with one
    /// positional read — and a vectorised sum into the chunk; nothing else checked, nothing written.
    /// </summary>
    private static void StreamingSum(IReadOnlyList<TensorDeclaration> tensors, IReadOnlyList<ModelUpdate> updates)
    {
        var chunk = ModelMerger.DefaultChunkElements;
        var workers = Environment.ProcessorCount;
        var streams = updates.Select(u => SafeTensors.OpenRead(u.Path)).ToList();
        try
        {
            var headers = streams.Select(SafeTensors.ReadHeader).ToList();
            var buffers = Enumerable.Range(0, workers).Select(_ => (Read: new float[chunk], Sum: new float[chunk])).ToArray();
            foreach (var t in tensors)
            {
                var elements = headers[0].Find(t.Name)!.Elements;
                var chunks = (elements + chunk - 1) / chunk;
                for (long first = 0; first < chunks; first += workers)
                {
                    Parallel.For(0, (int)Math.Min(workers, chunks - first), i =>
                    {
                        var start = (first + i) * chunk;
                        var n = (int)Math.Min(chunk, elements - start);
                        var read = buffers[i].Read.AsSpan(0, n);
                        var sum = buffers[i].Sum.AsSpan(0, n);
                        sum.Clear();
                        for (var k = 0; k < streams.Count; k++)
                        {
                            var info = headers[k].Find(t.Name)!;
                            RandomAccess.Read(streams[k].SafeFileHandle, MemoryMarshal.AsBytes(read), headers[k].DataStart + info.Offset + start * 4);
                            TensorPrimitives.Add(sum, read, sum);
                        }
                    });
                }
            }
        }
        finally
        {
            foreach (var s in streams) s.Dispose();
        }
    }

    private static (double A, double B) BestOfAlternating(Action a, Action b)
    {
        var (bestA, bestB) = (double.MaxValue, double.MaxValue);
        for (var i = 0; i < 2 * Repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            a();
            bestA = Math.Min(bestA, watch.Elapsed.TotalSeconds);
            watch.Restart();
            b();
            bestB = Math.Min(bestB, watch.Elapsed.TotalSeconds);
        }
        return (bestA, bestB);
    }

    private static double Best(Action action)
    {
        var best = double.MaxValue;
        for (var i = 0; i < Repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Station k's update: values in [-0.5, 0.5), written once and reused by later runs.</summary>
    private static string Update(string dir, int k, IReadOnlyList<TensorDeclaration> tensors, TextWriter output)
    {
        var path = Path.Combine(dir, $"update-{k}.safetensors");
        if (File.Exists(path)) return path;
        output.WriteLine($"  writing {path}");
        var random = new Random(k);
        var temp = path + ".tmp";
        using (var stream = File.Create(temp))
        {
            SafeTensors.WriteHeader(stream, tensors);
            var buffer = new float[1 << 20];
            foreach (var t in tensors)
            {
                for (var left = t.Shape.Aggregate(1L, (a, d) => a * d); left > 0; left -= buffer.Length)
                {
                    var piece = buffer.AsSpan(0, (int)Math.Min(buffer.Length, left));
                    for (var i = 0; i < piece.Length; i++) piece[i] = random.NextSingle() - 0.5f;
                    stream.Write(MemoryMarshal.AsBytes(piece));
                }
            }
        }
        File.Move(temp, path);
        return path;
    }

    private static string? PythonVersion()
    {
        try
        {
            var (code, stdout, _) = RunPython(["-c", "import numpy, sys; print('numpy ' + numpy.__version__ + ', Python ' + sys.version.split()[0])"]);
            return code == 0 ? stdout.Trim() : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static (double Seconds, double LoadSeconds, double MaxAbsDiff)? Flower(IReadOnlyList<ModelUpdate> updates, string merged)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "flower_aggregate.py");
        var (code, stdout, stderr) = RunPython([script, Repeats.ToString(CultureInfo.InvariantCulture), merged, .. updates.Select(u => $"{u.Path}:{u.Samples}")]);
        if (code != 0) throw new InvalidOperationException($"python3 {script} failed ({code}): {stderr}");
        using var json = JsonDocument.Parse(stdout);
        return (json.RootElement.GetProperty("seconds").EnumerateArray().Min(s => s.GetDouble()),
            json.RootElement.GetProperty("loadSeconds").GetDouble(), json.RootElement.GetProperty("maxAbsDiff").GetDouble());
    }

    private static (int Code, string Stdout, string Stderr) RunPython(IEnumerable<string> args)
    {
        // Debian's interpreter, which python3-numpy installs for, even when another python3 comes first on PATH.
        var info = new ProcessStartInfo(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
