using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Data;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Simulation;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Bench;

/// <summary>
/// pneumonia-cnn over three stations with label-skewed parts of PneumoniaMNIST's train split (each class mostly at
/// one station) against the same train on the whole train split in one place: same seed, rounds, local epochs and
/// optimiser; both final models scored on the 524 validation images.
/// </summary>
public static class PneumoniaFederatedBench
{
    private const int Stations = 3;

    public static async Task RunAsync(int rounds, int epochs, double skew, TextWriter output)
    {
        var work = Path.Combine(RepoPaths.WorkDir, "bench", "pneumonia");
        Directory.CreateDirectory(work);
        var npz = Path.Combine(RepoPaths.SharedData, "pneumoniamnist", "pneumoniamnist_trainval.npz");
        var train = NpzImages.Read(npz, "train");
        var validation = NpzImages.Read(npz, "val");
        var parts = ImageSplit.LabelSkewed(train, Stations, skew, seed: 42);

        using var docker = ImageCommands.Docker();
        var image = await new TrainImageBuilder(docker, ImageCommands.BaseBuilder(docker, TextWriter.Null), new ImmediateProgress<string>(_ => { }))
            .BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "pneumonia-cnn"));
        SimulatedStation Station(string name, ImageCollection collection)
        {
            var file = Path.Combine(work, "collections", name + ".safetensors");
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            using (var stream = File.Create(file)) collection.Write(stream);
            return SimulatedStation.WithImages(name, new Dictionary<string, string> { ["xrays"] = file }, Path.Combine(work, "stores", name + ".db"));
        }
        var central = Station("all-train", train);
        var stations = parts.Select((p, i) => Station($"skewed-{i + 1}", p)).ToList();
        var evaluation = Station("validation", validation);

        var parameters = new Dictionary<string, JsonElement>
        {
            ["epochs"] = JsonSerializer.SerializeToElement(epochs),
            ["held_out_fraction"] = JsonSerializer.SerializeToElement(0.0),
        };
        var evaluate = new Dictionary<string, JsonElement>
        {
            ["epochs"] = JsonSerializer.SerializeToElement(0),
            ["held_out_fraction"] = JsonSerializer.SerializeToElement(1.0),
        };
        var training = new TrainingSettings { Strategy = "fedavg", Seed = 42 };
        output.WriteLine($"pneumonia-cnn, {rounds} rounds x {epochs} local epochs, seed 42, fedavg; train split {train.Count} images, validation {validation.Count}");
        foreach (var (part, i) in parts.Select((p, i) => (p, i)))
            output.WriteLine($"  skewed-{i + 1}: {part.Count} images, {part.Labels.Count(l => l == 1)} pneumonia ({100.0 * part.Labels.Count(l => l == 1) / part.Count:0}%), {part.Labels.Count(l => l == 0)} normal");

        async Task<(IReadOnlyDictionary<string, double> Metrics, long Ms)> Run(string name, IReadOnlyList<SimulatedStation> over)
        {
            var clock = Stopwatch.StartNew();
            var result = await new LocalSimulation(docker, image.Reference, image.Manifest, over,
                new SimulationOptions(Path.Combine(work, name), rounds, training, parameters) { EvaluationParameters = evaluate, Parallel = 2 }, _ => { })
                .RunAsync(evaluation, CancellationToken.None);
            return (result.Evaluation!, clock.ElapsedMilliseconds);
        }
        var centralized = await Run("central", [central]);
        var federated = await Run("federated", stations);

        output.WriteLine($"{"",-40} {"accuracy",9} {"AUROC",8} {"log loss",9} {"wall s",7}");
        Row(output, "centralized (all 4,708 train images)", centralized.Metrics, centralized.Ms);
        Row(output, $"federated ({Stations} label-skewed stations, fedavg)", federated.Metrics, federated.Ms);
        var gap = 100 * (federated.Metrics["global_accuracy"] - centralized.Metrics["global_accuracy"]);
        output.WriteLine($"accuracy federated - centralized: {gap.ToString("+0.0;-0.0", CultureInfo.InvariantCulture)} points (goal: within 1 point), on the validation split");
    }

    private static void Row(TextWriter output, string name, IReadOnlyDictionary<string, double> m, long ms) =>
        output.WriteLine($"{name,-40} {m.GetValueOrDefault("global_accuracy"),9:0.0000} {m.GetValueOrDefault("global_auroc"),8:0.0000} {m.GetValueOrDefault("global_loss"),9:0.0000} {ms / 1000.0,7:0.0}");
}
