using System.Globalization;
using System.Runtime.InteropServices;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Simulation;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Bench;

/// <summary>
/// One of five city-slice stations sends poisoned updates every round — its trained weights scaled ×100, or replaced by
/// random values — and diabetes-risk is trained with FedAvg, coordinate-wise median and trimmed mean (β = 0.2, one value
/// trimmed at each end of five), each also with the hub's norm bounding. Each final model is scored on every patient of
/// the data (526, about 25 diabetic: the held-out fifth alone has about five, too few to tell 0.02 of AUROC apart),
/// against the clean run of the same strategy.
/// </summary>
public static class RobustnessBench
{
    private const string Poisoner = "station-1";

    /// <summary>
    /// The table over <paramref name="rounds"/> rounds for the strategies in <paramref name="only"/> (all when empty);
    /// with <paramref name="honestOnly"/>, instead of the attacks, one clean run without the poisoner's station: what the
    /// strategy reaches on the four honest stations alone, the best a rule that ignores the attacker entirely can do.
    /// </summary>
    public static async Task RunAsync(int rounds, IReadOnlyList<string> only, bool honestOnly, TextWriter output)
    {
        var work = Path.Combine(RepoPaths.WorkDir, "bench", "robustness");
        var data = DemoData.EnsureUnpacked(RepoPaths.WorkDir);
        var slices = DemoData.EnsureSlices(RepoPaths.WorkDir, 5);
        using var docker = ImageCommands.Docker();
        var image = await new TrainImageBuilder(docker, ImageCommands.BaseBuilder(docker, TextWriter.Null), new ImmediateProgress<string>(_ => { }))
            .BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
        var all = Load("all", [data], work);
        var stations = slices.Parts.Select((p, i) => Load($"station-{i + 1}", [p.Folder], work)).ToList();
        var parameters = new Dictionary<string, System.Text.Json.JsonElement> { ["epochs"] = System.Text.Json.JsonSerializer.SerializeToElement(10) };
        var everyone = new Dictionary<string, System.Text.Json.JsonElement>
        {
            ["epochs"] = System.Text.Json.JsonSerializer.SerializeToElement(0),
            ["held_out_fraction"] = System.Text.Json.JsonSerializer.SerializeToElement(1.0),
        };
        output.WriteLine($"diabetes-risk (logistic), 5 city slices ({string.Join("/", slices.Parts.Select(p => p.PatientCount))} patients), {rounds} rounds x 10 epochs, seed 42; {Poisoner} poisons every update");
        output.WriteLine("final models scored on every patient of the data");
        if (honestOnly)
        {
            output.WriteLine($"{"strategy",-30} {"AUROC without " + Poisoner,24}");
            foreach (var (name, settings) in Strategies.Where(s => only.Count == 0 || only.Contains(s.Name)))
            {
                var result = await new LocalSimulation(docker, image.Reference, image.Manifest, [.. stations.Where(s => s.Name != Poisoner)],
                    new SimulationOptions(Path.Combine(work, $"{name}-honest"), rounds, settings, parameters) { EvaluationParameters = everyone, Parallel = 2 }, _ => { })
                    .RunAsync(all, CancellationToken.None);
                output.WriteLine($"{name,-30} {result.Evaluation!["global_auroc"],24:0.0000}");
            }
            return;
        }
        output.WriteLine($"{"strategy",-30} {"clean AUROC",12} {"x100 AUROC",11} {"random AUROC",13} {"worst drop",11}");

        var random = new Random(7);
        foreach (var (name, settings) in Strategies.Where(s => only.Count == 0 || only.Contains(s.Name)))
        {
            var results = new List<double>();
            foreach (var (attack, tamper) in new (string, Action<string, int, string>?)[]
            {
                ("clean", null),
                ("x100", (station, _, path) => { if (station == Poisoner) Rewrite(path, v => v * 100f); }),
                ("random", (station, _, path) => { if (station == Poisoner) Rewrite(path, _ => (float)(random.NextDouble() * 20 - 10)); }),
            })
            {
                var result = await new LocalSimulation(docker, image.Reference, image.Manifest, stations,
                    new SimulationOptions(Path.Combine(work, $"{name}-{attack}"), rounds, settings, parameters)
                    {
                        Tamper = tamper, EvaluationParameters = everyone, Parallel = 2,
                    }, _ => { })
                    .RunAsync(all, CancellationToken.None);
                results.Add(result.Evaluation!["global_auroc"]);
            }
            output.WriteLine($"{name,-30} {results[0],12:0.0000} {results[1],11:0.0000} {results[2],13:0.0000} {results[0] - Math.Min(results[1], results[2]),11:0.0000}");
        }
    }

    private static readonly (string Name, TrainingSettings Settings)[] Strategies =
    [
        ("fedavg", new TrainingSettings { Strategy = "fedavg" }),
        ("fedavg + norm bound", new TrainingSettings { Strategy = "fedavg", NormBound = true }),
        ("median", new TrainingSettings { Strategy = "median" }),
        ("median + norm bound", new TrainingSettings { Strategy = "median", NormBound = true }),
        ("trimmed-mean", new TrainingSettings { Strategy = "trimmed-mean", TrimFraction = 0.2 }),
        ("trimmed-mean + norm bound", new TrainingSettings { Strategy = "trimmed-mean", TrimFraction = 0.2, NormBound = true }),
        ("geometric-median", new TrainingSettings { Strategy = "geometric-median" }),
        ("geometric-median + norm bound", new TrainingSettings { Strategy = "geometric-median", NormBound = true }),
    ];

    /// <summary>Rewrites every float32 value of an update file in place.</summary>
    private static void Rewrite(string path, Func<float, float> change)
    {
        var bytes = File.ReadAllBytes(path);
        var header = SafeTensors.ReadHeader(bytes);
        foreach (var t in header.Tensors.Where(t => t.Dtype == "float32"))
        {
            var values = MemoryMarshal.Cast<byte, float>(bytes.AsSpan((int)(header.DataStart + t.Offset), (int)t.Length));
            for (var i = 0; i < values.Length; i++) values[i] = change(values[i]);
        }
        File.WriteAllBytes(path, bytes);
    }

    private static SimulatedStation Load(string name, IReadOnlyList<string> folders, string work) =>
        SimulatedStation.Load(name, folders, Path.Combine(work, "stores", name + ".db"));
}
