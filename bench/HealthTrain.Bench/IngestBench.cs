using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace HealthTrain.Bench;

/// <summary>
/// Station ingest throughput and memory against a parse-only baseline (the Firely SDK's strict R4 parser over the same
/// bundles, nothing else), at 1×, 2× and 4× the shared Synthea set. Each measurement runs in its own process, with the
/// station's server GC, so its peak memory is its own.
/// </summary>
public static class IngestBench
{
    private const string ResultPrefix = "RESULT ";

    /// <summary>One measurement: what was read, how long it took, and the memory it needed.</summary>
    public sealed record Measurement(string Mode, long Resources, long Bytes, double Seconds, long PeakWorkingSet, long PeakManagedHeap, string Detail)
    {
        public double ResourcesPerSecond => Resources / Seconds;

        public double MegabytesPerSecond => Bytes / 1e6 / Seconds;
    }

    public static void Run(TextWriter output)
    {
        output.WriteLine($"ingest vs parse-only, Synthea R4 2019 at {string.Join("×, ", ScaledSynthea.Scales)}× ({Environment.ProcessorCount} cores, server GC in each child process)");
        var rows = new List<(int Scale, Measurement Parse, Measurement ParseParallel, Measurement Ingest)>();
        foreach (var scale in ScaledSynthea.Scales)
        {
            var input = ScaledSynthea.Folder(scale, output);
            var parse = Child(output, "parse", input, null);
            var parallel = Child(output, "parse-parallel", input, null);
            var ingest = Child(output, "ingest", input, StorePath(scale));
            rows.Add((scale, parse, parallel, ingest));
            output.WriteLine($"  {scale}×: ingest {ingest.Detail}");
        }

        output.WriteLine();
        output.WriteLine("| scale | input | resources | parse-only (1 thread) | parse-only (all cores) | ingest (validate + store) | ingest ÷ parse-only | peak memory: parse / ingest |");
        output.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var (scale, parse, parallel, ingest) in rows)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {scale}× | {ingest.Bytes / 1e6:F0} MB | {ingest.Resources:N0} | {Rate(parse)} | {Rate(parallel)} | {Rate(ingest)} | " +
                $"{ingest.ResourcesPerSecond / parse.ResourcesPerSecond:F2} (all cores: {ingest.ResourcesPerSecond / parallel.ResourcesPerSecond:F2}) | " +
                $"{parse.PeakWorkingSet / 1e6:F0} MB / {ingest.PeakWorkingSet / 1e6:F0} MB (managed heap {ingest.PeakManagedHeap / 1e6:F0} MB) |"));
        }
    }

    /// <summary>The store the ingest measurement at <paramref name="scale"/> writes, reused by the views benchmark.</summary>
    public static string StorePath(int scale) => Path.Combine(RepoPaths.WorkDir, "bench", $"ingest-x{scale}.db");

    /// <summary>Ingests <paramref name="input"/> into a fresh store at <paramref name="store"/> in this process (used by the views benchmark when no store is there yet).</summary>
    public static IngestionReport IngestFresh(string input, string store)
    {
        foreach (var file in new[] { store, store + "-wal", store + "-shm" })
        {
            if (File.Exists(file)) File.Delete(file);
        }

        return new FhirIngestion(new FhirStore(store), new FhirIngestionOptions { Resume = false }).Run(new FhirBundleSource(), input);
    }

    /// <summary>The child process's side: one measurement, printed as a RESULT line.</summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        var mode = args[0];
        var input = args[1];
        using var sampler = new MemorySampler();
        var watch = Stopwatch.StartNew();
        var measurement = mode switch
        {
            "parse" => ParseOnly(input, parallel: false),
            "parse-parallel" => ParseOnly(input, parallel: true),
            "ingest" => Ingest(input, args[2]),
            _ => throw new ArgumentException($"unknown mode {mode}"),
        };
        var seconds = watch.Elapsed.TotalSeconds;
        sampler.Stop();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        measurement = measurement with { Seconds = seconds, PeakWorkingSet = process.PeakWorkingSet64, PeakManagedHeap = sampler.PeakManagedHeap };
        Console.WriteLine(ResultPrefix + JsonSerializer.Serialize(measurement));
        return 0;
    }

    private static Measurement ParseOnly(string input, bool parallel)
    {
        var files = Directory.EnumerateFiles(input, "*.json", new EnumerationOptions { RecurseSubdirectories = true }).Order(StringComparer.Ordinal).ToList();
        long resources = 0;
        long bytes = 0;
        var deserializer = new ThreadLocal<FhirJsonDeserializer>(() => new FhirJsonDeserializer(new DeserializerSettings().UsingMode(DeserializationMode.Strict)));
        void ParseFile(string file)
        {
            var content = File.ReadAllBytes(file);
            var reader = new Utf8JsonReader(content, new JsonReaderOptions { MaxDepth = 256 });
            deserializer.Value!.TryDeserializeResource(ref reader, out var resource, out _);
            Interlocked.Add(ref resources, resource is Bundle bundle ? bundle.Entry.Count : 1);
            Interlocked.Add(ref bytes, content.Length);
        }

        if (parallel)
        {
            Parallel.ForEach(files, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, ParseFile);
        }
        else
        {
            files.ForEach(ParseFile);
        }

        return new Measurement(parallel ? "parse-parallel" : "parse", resources, bytes, 0, 0, 0, "");
    }

    private static Measurement Ingest(string input, string store)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(store)!);
        var report = IngestFresh(input, store);
        var stages = string.Join(", ", report.StageSeconds.Select(s => $"{s.Key} {s.Value:F1} s"));
        return new Measurement(
            "ingest",
            report.Records,
            report.Bytes,
            0,
            0,
            0,
            $"{report.Ingested:N0} ingested, {report.Quarantined:N0} quarantined; busy: {stages}");
    }

    private static Measurement Child(TextWriter output, string mode, string input, string? store)
    {
        var entry = typeof(IngestBench).Assembly.Location;
        var info = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            info.ArgumentList.Add(entry);
        }

        foreach (var arg in (string[])["ingest-child", mode, input, .. store is null ? Array.Empty<string>() : [store]])
        {
            info.ArgumentList.Add(arg);
        }

        // The station runs with the server GC (ASP.NET Core's default); measure the way it runs.
        info.Environment["DOTNET_gcServer"] = "1";
        using var process = Process.Start(info)!;
        Measurement? result = null;
        while (process.StandardOutput.ReadLine() is { } line)
        {
            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                result = JsonSerializer.Deserialize<Measurement>(line[ResultPrefix.Length..]);
            }
        }

        process.WaitForExit();
        if (process.ExitCode != 0 || result is null)
        {
            throw new InvalidOperationException($"the {mode} measurement failed (exit {process.ExitCode})");
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {mode,-15} {Path.GetFileName(input),-26} {Rate(result)}, peak working set {result.PeakWorkingSet / 1e6:F0} MB, managed heap {result.PeakManagedHeap / 1e6:F0} MB"));
        return result;
    }

    private static string Rate(Measurement m) =>
        string.Create(CultureInfo.InvariantCulture, $"{m.ResourcesPerSecond:N0} res/s, {m.MegabytesPerSecond:F1} MB/s ({m.Seconds:F1} s)");

    /// <summary>Samples the managed heap size every 50 ms (the GC's own peak is per collection, not per run).</summary>
    private sealed class MemorySampler : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;

        public MemorySampler()
        {
            _thread = new Thread(() =>
            {
                while (!_stop)
                {
                    PeakManagedHeap = Math.Max(PeakManagedHeap, GC.GetTotalMemory(false));
                    Thread.Sleep(50);
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        public long PeakManagedHeap { get; private set; }

        public void Stop()
        {
            _stop = true;
            _thread.Join();
        }

        public void Dispose() => Stop();
    }
}
