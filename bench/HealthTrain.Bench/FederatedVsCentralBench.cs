using System.Diagnostics;
using System.Globalization;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Simulation;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Bench;

/// <summary>
/// diabetes-risk federated over three stations split by city (non-IID) against the same train on all the data in one
/// place, same features, seeds, rounds and epochs; both final models evaluated on the same held-out patients (the
/// split hashes patient keys with the seed, so the stations' held-out parts are exactly the pooled held-out part).
/// </summary>
public static class FederatedVsCentralBench
{
    public static async Task RunAsync(int rounds, string model, TextWriter output)
    {
        var work = Path.Combine(RepoPaths.WorkDir, "bench", "fed-vs-central");
        var data = DemoData.EnsureUnpacked(RepoPaths.WorkDir);
        var slices = DemoData.EnsureSlices(RepoPaths.WorkDir, 3);
        using var docker = ImageCommands.Docker();
        var quiet = new ImmediateProgress<string>(_ => { });
        var image = await new TrainImageBuilder(docker, ImageCommands.BaseBuilder(docker, TextWriter.Null), quiet)
            .BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
        var all = Load("all", [data], work);
        var stations = slices.Parts.Select((p, i) => Load($"city-slice-{i + 1}", [p.Folder], work)).ToList();
        var parameters = new Dictionary<string, System.Text.Json.JsonElement>
        {
            ["model"] = System.Text.Json.JsonSerializer.SerializeToElement(model),
            ["epochs"] = System.Text.Json.JsonSerializer.SerializeToElement(10),
        };
        var training = new TrainingSettings { Strategy = "fedavg", Seed = 42 };
        output.WriteLine($"diabetes-risk ({model}), {rounds} rounds x 10 local epochs, seed 42, synthea-r4-ma-2019 ({all.Resources} resources)");

        var clock = Stopwatch.StartNew();
        var central = await new LocalSimulation(docker, image.Reference, image.Manifest, [all],
            new SimulationOptions(Path.Combine(work, "central"), rounds, training, parameters), _ => { }).RunAsync(all, CancellationToken.None);
        var centralMs = clock.ElapsedMilliseconds;
        clock.Restart();
        var federated = await new LocalSimulation(docker, image.Reference, image.Manifest, stations,
            new SimulationOptions(Path.Combine(work, "federated"), rounds, training, parameters), _ => { }).RunAsync(all, CancellationToken.None);
        var federatedMs = clock.ElapsedMilliseconds;

        output.WriteLine($"{"",-34} {"AUROC",8} {"accuracy",9} {"log loss",9} {"wall s",7}");
        Row(output, "centralized (1 station, all data)", central.Evaluation!, centralMs);
        Row(output, $"federated ({stations.Count} city slices, fedavg)", federated.Evaluation!, federatedMs);
        var gap = federated.Evaluation!["global_auroc"] - central.Evaluation!["global_auroc"];
        output.WriteLine($"AUROC federated - centralized: {gap.ToString("+0.0000;-0.0000", CultureInfo.InvariantCulture)} (goal: within 0.01)");
        output.WriteLine($"held-out patients evaluated: {central.Evaluation!.GetValueOrDefault("global_eval_samples"):0}");
    }

    private static void Row(TextWriter output, string name, IReadOnlyDictionary<string, double> m, long ms) =>
        output.WriteLine($"{name,-34} {m.GetValueOrDefault("global_auroc"),8:0.0000} {m.GetValueOrDefault("global_accuracy"),9:0.0000} {m.GetValueOrDefault("global_loss"),9:0.0000} {ms / 1000.0,7:0.0}");

    private static SimulatedStation Load(string name, IReadOnlyList<string> folders, string work) =>
        SimulatedStation.Load(name, folders, Path.Combine(work, "stores", name + ".db"));
}
