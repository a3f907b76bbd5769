using System.Text.Json;
using HealthTrain.Trains.Protocol.Models;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Sdk.Training;

namespace HealthTrain.Trains.Tests.Training;

/// <summary>The training side of <see cref="TrainContext"/>: round, global model and image collections in; update and metrics out.</summary>
public sealed class TrainingIoTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("healthtrain-training-io-").FullName;
    private string Input => Path.Combine(root, "input");
    private string Output => Path.Combine(root, "output");
    private TrainContext Context => new(Input, Output);

    public TrainingIoTests() => Directory.CreateDirectory(Input);

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void Without_a_global_model_there_is_none_and_a_delivered_one_is_read_and_checked()
    {
        Assert.Null(Context.ReadGlobalModel());
        Directory.CreateDirectory(Path.Combine(Input, "model"));
        File.WriteAllBytes(Path.Combine(Input, TrainContext.GlobalModelPath), SafeTensors.ToBytes([SafeTensors.Float32("w", [2], [1f, 2f])]));
        Assert.Equal([1f, 2f], Context.ReadGlobalModel()!.Float32("w"));
        File.WriteAllBytes(Path.Combine(Input, TrainContext.GlobalModelPath), [1, 2, 3]);
        Assert.Throws<TrainInputException>(() => Context.ReadGlobalModel());
    }

    [Fact]
    public void Image_collections_round_trip_and_a_wrong_layout_is_refused()
    {
        var images = new ImageCollection(2, 2, 3, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255], [0, 1]);
        Directory.CreateDirectory(Path.Combine(Input, "images"));
        using (var file = File.Create(Path.Combine(Input, "images", "xrays.safetensors"))) images.Write(file);
        var read = Context.ReadImageCollection("xrays");
        Assert.Equal((2, 2, 3), (read.Count, read.Height, read.Width));
        Assert.Equal(images.Images, read.Images);
        Assert.Equal([0L, 1L], read.Labels);
        Assert.Equal([250, 251, 252, 253, 254, 255], read.Image(1).ToArray());

        File.WriteAllBytes(Path.Combine(Input, "images", "bad.safetensors"), SafeTensors.ToBytes([SafeTensors.Float32("images", [1, 1, 1], [0.5f])]));
        Assert.Contains("labels", Assert.Throws<TrainInputException>(() => Context.ReadImageCollection("bad")).Message);
        Assert.Throws<TrainInputException>(() => Context.ReadImageCollection("missing"));
    }

    [Fact]
    public void Metrics_are_written_in_the_contracts_shape_and_non_finite_values_never_leave()
    {
        var path = Context.WriteTrainingMetrics(new TrainingMetrics { Samples = 10, Metrics = new() { ["global_loss"] = 0.5, ["local_auroc"] = 0.75 } });
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal(10, json.RootElement.GetProperty("samples").GetInt64());
        Assert.Equal(0.75, json.RootElement.GetProperty("metrics").GetProperty("local_auroc").GetDouble());
        Assert.Equal(2, json.RootElement.EnumerateObject().Count());

        File.Delete(path);
        Assert.Throws<InvalidOperationException>(() => Context.WriteTrainingMetrics(new TrainingMetrics { Samples = 1, Metrics = new() { ["loss"] = double.NaN } }));
        Assert.Throws<InvalidOperationException>(() => Context.WriteTrainingMetrics(new TrainingMetrics { Samples = 1, Metrics = new() { ["Bad-Name"] = 1 } }));
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void The_update_is_a_safetensors_file_in_the_output_folder()
    {
        var path = Context.WriteUpdate([SafeTensors.Float32("linear_weight", [1, 2], [0.25f, -1f])]);
        Assert.Equal(Path.Combine(Output, "update.safetensors"), path);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal([0.25f, -1f], SafeTensors.ReadFloat32(bytes, SafeTensors.ReadHeader(bytes), "linear_weight"));
    }

    [Fact]
    public void The_round_is_read_from_round_json()
    {
        Assert.Throws<TrainInputException>(() => Context.ReadRound());
        File.WriteAllText(Path.Combine(Input, "round.json"), """{"run": 1, "round": 2, "rounds": 3, "strategy": "median", "proximalMu": null, "seed": 5}""");
        Assert.Equal("median", Context.ReadRound().Strategy);
    }
}
