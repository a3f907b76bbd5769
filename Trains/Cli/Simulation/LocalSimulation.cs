using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using HealthTrain.Hub.Merging;
using HealthTrain.Station;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Cli.Simulation;

/// <summary>A simulated station: a name, its own FHIR store loaded from folders, and the image collections it serves.</summary>
public sealed record SimulatedStation(string Name, FhirStore Store, long Resources)
{
    /// <summary>Image collections by input name, as a station's operator lists them in <c>Station:ImageCollections</c>.</summary>
    public IReadOnlyDictionary<string, string> ImageCollections { get; init; } = new Dictionary<string, string>();

    /// <summary>A station that serves only image collections (its FHIR store at <paramref name="storePath"/> stays empty).</summary>
    public static SimulatedStation WithImages(string name, IReadOnlyDictionary<string, string> collections, string storePath)
    {
        var station = Load(name, [], storePath);
        return station with { ImageCollections = collections };
    }

    /// <summary>A station whose fresh store at <paramref name="storePath"/> holds every FHIR file of <paramref name="folders"/>.</summary>
    public static SimulatedStation Load(string name, IReadOnlyList<string> folders, string storePath)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(storePath)!);
        if (File.Exists(storePath)) File.Delete(storePath);
        var store = new FhirStore(storePath);
        foreach (var folder in folders) new FhirFolderLoader(store).Load(folder);
        return new SimulatedStation(name, store, store.CountByType().Values.Sum());
    }
}

/// <summary>One station's part of a simulated round: its samples and metrics.</summary>
public sealed record SimulatedContribution(string Station, long Samples, IReadOnlyDictionary<string, double> Metrics, long RunMs);

/// <summary>A simulated round: each station's contribution, the merged model's path, and the wall time.</summary>
public sealed record SimulatedRound(int Round, IReadOnlyList<SimulatedContribution> Contributions, string ModelPath, long WallMs);

/// <summary>What a local simulation of a training run produced.</summary>
public sealed record SimulationResult(IReadOnlyList<SimulatedRound> Rounds, string FinalModel, IReadOnlyDictionary<string, double>? Evaluation);

/// <summary>Settings of a local simulation.</summary>
public sealed record SimulationOptions(string WorkDir, int Rounds, TrainingSettings Training, IReadOnlyDictionary<string, System.Text.Json.JsonElement>? Parameters)
{
    /// <summary>Stations trained at once (containers share the machine's cores).</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>
    /// For robustness experiments: called with a station's name, the round and its checked update file before the merge,
    /// and may rewrite the file (a poisoned station). Null in normal simulations.
    /// </summary>
    public Action<string, int, string>? Tamper { get; init; }

    /// <summary>
    /// Parameters that differ for the final evaluation (e.g. <c>held_out_fraction</c> 1 and <c>epochs</c> 0 to score the
    /// final model on every record of a validation station); the run's parameters otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, System.Text.Json.JsonElement>? EvaluationParameters { get; init; }
}

/// <summary>
/// <c>healthtrain train test</c>: runs a training train round by round over local stations without a hub — the station's
/// own input planning (views over its FHIR store), the same locked-down container, the same output checks, and the
/// hub's merge engine — so a researcher sees what a federated run would do before publishing anything.
/// </summary>
public sealed class LocalSimulation(DockerClient docker, string image, TrainManifest manifest, IReadOnlyList<SimulatedStation> stations, SimulationOptions options,
    Action<string> progress)
{
    public async Task<SimulationResult> RunAsync(SimulatedStation? evaluateOn, CancellationToken ct)
    {
        Directory.CreateDirectory(options.WorkDir);
        var parameters = Resolve(options.Parameters, "the parameters are invalid");
        var evaluationParameters = options.EvaluationParameters is null ? parameters
            : Resolve(new Dictionary<string, System.Text.Json.JsonElement>((options.Parameters ?? new Dictionary<string, System.Text.Json.JsonElement>())
                .Where(p => !options.EvaluationParameters.ContainsKey(p.Key)).Concat(options.EvaluationParameters)), "the evaluation parameters are invalid");
        var strategy = RoundStrategy.Of(options.Training).EnsureValid();
        string? global = null;
        string? state = null;
        var rounds = new List<SimulatedRound>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            var job = Job(round, global);
            var results = new SimulatedContribution?[stations.Count];
            var updates = new string?[stations.Count];
            using var gate = new SemaphoreSlim(Math.Max(1, options.Parallel));
            await Task.WhenAll(stations.Select(async (station, i) =>
            {
                await gate.WaitAsync(ct);
                try
                {
                    var (output, update) = await ExecuteAsync(station, job, parameters, global, $"round-{round}", ct);
                    options.Tamper?.Invoke(station.Name, round, update);
                    results[i] = output;
                    updates[i] = update;
                }
                finally
                {
                    gate.Release();
                }
            }));
            var merged = Path.Combine(options.WorkDir, $"model-round-{round}.safetensors");
            var nextState = strategy.Name == MergeStrategy.FedAdamName ? Path.Combine(options.WorkDir, $"fedadam-round-{round}.safetensors") : null;
            using (var output = File.Create(merged))
            using (var stateOutput = nextState is null ? null : File.Create(nextState))
                new ModelMerger().Merge(new MergeRequest
                {
                    Strategy = strategy,
                    Tensors = manifest.Outputs.Tensors,
                    Updates = [.. stations.Select((s, i) => new ModelUpdate(s.Name, updates[i]!, results[i]!.Samples))],
                    Round = round,
                    GlobalModelPath = global,
                    StatePath = state,
                }, output, stateOutput);
            global = merged;
            state = nextState;
            var done = new SimulatedRound(round, [.. results.Select(r => r!)], merged, clock.ElapsedMilliseconds);
            rounds.Add(done);
            progress($"round {round}: {Describe(done)}");
        }
        IReadOnlyDictionary<string, double>? evaluation = null;
        if (evaluateOn is not null)
        {
            // One more execution over all the data with the final model: its global_* metrics evaluate that model on the held-out part.
            var (result, _) = await ExecuteAsync(evaluateOn, Job(options.Rounds + 1, global, options.Rounds + 1), evaluationParameters, global, "evaluation", ct,
                evaluationOnly: true);
            evaluation = result.Metrics.Where(m => m.Key.StartsWith("global_", StringComparison.Ordinal)).ToDictionary(m => m.Key, m => m.Value);
            progress($"final model on {evaluateOn.Name}: " + string.Join(", ", evaluation.Select(m => $"{m.Key} {F(m.Value)}")));
        }
        return new SimulationResult(rounds, global!, evaluation);
    }

    private System.Text.Json.Nodes.JsonObject Resolve(IReadOnlyDictionary<string, System.Text.Json.JsonElement>? values, string what)
    {
        var (resolved, errors) = ParameterValues.Resolve(manifest, values is null ? null : new Dictionary<string, System.Text.Json.JsonElement>(values));
        return errors.Count > 0 ? throw new ProtocolValidationException(what, errors) : resolved;
    }

    private JobAssignment Job(int round, string? global, int? rounds = null) =>
        new(round, 0, round, 0, manifest.Name, manifest.Version, image, image, System.Text.Json.JsonSerializer.Serialize(manifest, ProtocolJson.Options), new())
        {
            Training = new JobTraining(rounds ?? options.Rounds, options.Training.Strategy, options.Training.ProximalMu, options.Training.Seed, global is null ? null : "local"),
        };

    private async Task<(SimulatedContribution Result, string Update)> ExecuteAsync(SimulatedStation station, JobAssignment job,
        System.Text.Json.Nodes.JsonObject parameters, string? global, string step, CancellationToken ct, bool evaluationOnly = false)
    {
        var dir = Path.Combine(options.WorkDir, station.Name, step);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var input = Directory.CreateDirectory(Path.Combine(dir, "input")).FullName;
        var output = Directory.CreateDirectory(Path.Combine(dir, "output")).FullName;
        // The train runs as 65532: it must be able to read its input and write its output.
        File.SetUnixFileMode(output, (UnixFileMode)Convert.ToInt32("777", 8));
        var stationOptions = new StationOptions
        {
            Name = station.Name,
            DataDir = Path.Combine(options.WorkDir, station.Name),
            ImageCollections = new Dictionary<string, string>(station.ImageCollections),
        };
        var inputs = new TrainInputs(station.Store, stationOptions);
        var plan = inputs.Plan(manifest);
        File.WriteAllText(Path.Combine(input, "parameters.json"), parameters.ToJsonString());
        File.WriteAllText(Path.Combine(input, TrainingOutput.RoundFileName), TrainingOutput.RoundJson(job with { RunId = 0 }));
        if (global is not null)
        {
            Directory.CreateDirectory(Path.Combine(input, "model"));
            File.Copy(global, Path.Combine(input, TrainingOutput.GlobalModelPath));
        }
        await inputs.WriteAsync(input, plan, ct);
        foreach (var path in Directory.EnumerateFileSystemEntries(input, "*", SearchOption.AllDirectories).Append(input))
            File.SetUnixFileMode(path, Directory.Exists(path) ? (UnixFileMode)Convert.ToInt32("755", 8) : (UnixFileMode)Convert.ToInt32("644", 8));

        var executor = new DockerTrainExecutor(docker, NullLogger<DockerTrainExecutor>.Instance);
        var outcome = await executor.ExecuteAsync(new TrainExecution(image, TrainUserPolicy.DefaultUser, input, output, manifest.Resources.Cpus,
            manifest.Resources.MemoryMb * 1024 * 1024, stationOptions.PidsLimit, stationOptions.TmpBytes, TimeSpan.FromSeconds(manifest.Resources.TimeoutSeconds),
            new Dictionary<string, string> { ["org.healthtrain.simulation"] = station.Name }), ct);
        if (outcome.TimedOut || outcome.ExitCode != 0)
            throw new InvalidOperationException($"{station.Name} {step}: the train {(outcome.TimedOut ? "timed out" : $"exited with code {outcome.ExitCode}")}:\n{outcome.LogTail}");
        if (evaluationOnly)
        {
            // Only the metrics count: the evaluation may train on nothing (held_out_fraction 1), and its update is never merged.
            var metricsPath = Path.Combine(output, TrainingOutput.MetricsFileName);
            var (samples, metrics, problem) = File.Exists(metricsPath) ? TrainingOutput.ParseMetrics(File.ReadAllBytes(metricsPath), evaluationOnly: true)
                : (0, new Dictionary<string, double>(), $"the train wrote no /output/{TrainingOutput.MetricsFileName}");
            if (problem is not null) throw new InvalidOperationException($"{station.Name} {step}: {problem}");
            return (new SimulatedContribution(station.Name, samples, metrics, outcome.RunMs), "");
        }
        var training = OutputCollector.CollectTraining(output, manifest, stationOptions.MaxOutputBytes, stationOptions.MaxOutputFiles);
        return (new SimulatedContribution(station.Name, training.Samples, training.Metrics, outcome.RunMs), training.UpdatePath);
    }

    private static string Describe(SimulatedRound round)
    {
        var samples = round.Contributions.Sum(c => c.Samples);
        var metrics = round.Contributions.SelectMany(c => c.Metrics.Keys).Distinct().Order(StringComparer.Ordinal)
            .Select(name => (name, value: round.Contributions.Where(c => c.Metrics.ContainsKey(name)).Sum(c => c.Metrics[name] * c.Samples)
                / round.Contributions.Where(c => c.Metrics.ContainsKey(name)).Sum(c => c.Samples)));
        return $"{round.Contributions.Count} station(s), {samples} samples, {round.WallMs} ms; " + string.Join(", ", metrics.Select(m => $"{m.name} {F(m.value)}"));
    }

    private static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
