using HealthTrain.Cli;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Simulation;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.EndToEnd.Tests;

/// <summary><c>healthtrain train test</c>'s simulation: rounds over local stations, no hub, the final model evaluated on all the data.</summary>
[Collection(FederationCollection.Name)]
public sealed class TrainSimulationTests(FederationFixture f)
{
    [Fact]
    public async Task Two_stations_two_rounds_merge_into_a_model_of_the_declared_tensors()
    {
        var quiet = new ImmediateProgress<string>(_ => { });
        var image = await new TrainImageBuilder(f.Docker, new BaseImageBuilder(f.Docker, BaseImageOptions.ForRepository(RepoPaths.Root), quiet), quiet)
            .BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
        var work = Path.Combine(f.Root, "simulation");
        var stations = f.Slices.Parts.Take(2).Select((p, i) => SimulatedStation.Load($"s{i + 1}", [p.Folder], Path.Combine(work, $"s{i + 1}.db"))).ToList();
        var progress = new List<string>();

        var result = await new LocalSimulation(f.Docker, image.Reference, image.Manifest, stations,
            new SimulationOptions(work, 2, new TrainingSettings { Strategy = "median" }, new Dictionary<string, System.Text.Json.JsonElement> { ["epochs"] = System.Text.Json.JsonSerializer.SerializeToElement(1) }),
            progress.Add).RunAsync(stations[0], CancellationToken.None);

        Assert.Equal([1, 2], result.Rounds.Select(r => r.Round));
        Assert.All(result.Rounds, r => Assert.Equal(["s1", "s2"], r.Contributions.Select(c => c.Station)));
        Assert.StartsWith("round 2: 2 station(s), ", progress[1]);
        Assert.True(TensorOutputCheck.Check(image.Manifest.Outputs.Tensors, result.FinalModel).IsValid);
        Assert.InRange(result.Evaluation!["global_accuracy"], 0, 1); // AUROC is left out when the held-out part holds no case
    }

    [Fact]
    public async Task Train_test_deals_an_image_collection_to_label_skewed_stations_and_evaluates_the_merged_cnn()
    {
        var work = Path.Combine(f.Root, "image-simulation");
        var npz = Path.Combine(RepoPaths.SharedData, "pneumoniamnist", "pneumoniamnist_trainval.npz");
        var output = new StringWriter();

        var exit = await SimulationCommand.RunAsync(new CliArgs(["test", Path.Combine(RepoPaths.Root, "Trains", "Examples", "pneumonia-cnn"),
            "--data", npz, "--split", "val", "--stations", "2", "--label-skew", "0.9", "--rounds", "2", "--param", "epochs=1",
            "--work", work, "--evaluate"], "evaluate"), output);

        var text = output.ToString();
        Assert.Equal(0, exit);
        // The validation split's 524 images (135 normal, 389 pneumonia): 90 % of each class at its own station.
        Assert.Contains("station-1: 170 images (122 labelled 0, 48 labelled 1)", text);
        Assert.Contains("station-2: 354 images (13 labelled 0, 341 labelled 1)", text);
        Assert.Contains("round 2: 2 station(s), 524 samples", text);
        Assert.Matches(@"final model on all-stations: .*global_auroc 0\.\d+", text);
    }
}
