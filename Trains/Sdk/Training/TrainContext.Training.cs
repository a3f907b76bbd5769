using System.Text.Json;
using HealthTrain.Trains.Protocol.Models;
using HealthTrain.Trains.Sdk.Training;

namespace HealthTrain.Trains.Sdk;

// The training side of the contract (docs/train-contract.md, "Training trains"): round, global model, image
// collections in; update and metrics out.
public sealed partial class TrainContext
{
    /// <summary>The global model under the input folder, absent in round 1 unless the run started from one.</summary>
    public const string GlobalModelPath = "model/global.safetensors";

    /// <summary>The locally trained weights under the output folder.</summary>
    public const string UpdateFileName = "update.safetensors";

    /// <summary>Reads <c>round.json</c>; throws <see cref="TrainInputException"/> if it is missing or malformed.</summary>
    public RoundInfo ReadRound() => RoundInfo.Load(Path.Combine(InputDirectory, RoundInfo.FileName));

    /// <summary>The global model's bytes, or null when the station delivered none (round 1 without an initial model).</summary>
    public SafeTensorsDocument? ReadGlobalModel()
    {
        var path = Path.Combine(InputDirectory, GlobalModelPath);
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        try
        {
            return new SafeTensorsDocument(bytes, SafeTensors.ReadHeader(bytes));
        }
        catch (SafeTensorsException e)
        {
            throw new TrainInputException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Reads the image collection input <paramref name="name"/> from <c>images/{name}.safetensors</c>.</summary>
    public ImageCollection ReadImageCollection(string name)
    {
        if (name is null || !ViewNamePattern().IsMatch(name))
            throw new ArgumentException($"'{name}' is not an input name (lower-case letters, digits and '_', starting with a letter)", nameof(name));
        var path = Path.Combine(InputDirectory, "images", name + ".safetensors");
        if (!File.Exists(path)) throw new TrainInputException($"image collection '{name}' was not delivered: {path} does not exist");
        using var stream = File.OpenRead(path);
        try
        {
            return ImageCollection.Read(stream);
        }
        catch (SafeTensorsException e)
        {
            throw new TrainInputException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Writes <c>update.safetensors</c> (the tensors in the order given) and returns its path.</summary>
    public string WriteUpdate(IEnumerable<SafeTensor> tensors)
    {
        var bytes = SafeTensors.ToBytes(tensors);
        Directory.CreateDirectory(OutputDirectory);
        var path = Path.Combine(OutputDirectory, UpdateFileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Checks and writes <c>metrics.json</c>; returns its path.</summary>
    public string WriteTrainingMetrics(TrainingMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        metrics.Validate();
        var bytes = JsonSerializer.SerializeToUtf8Bytes(metrics, new JsonSerializerOptions { WriteIndented = true });
        Directory.CreateDirectory(OutputDirectory);
        var path = Path.Combine(OutputDirectory, TrainingMetrics.FileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

/// <summary>A safetensors document held in memory with its checked header.</summary>
public sealed record SafeTensorsDocument(byte[] Bytes, SafeTensorsHeader Header)
{
    /// <summary>The values of a float32 tensor.</summary>
    public float[] Float32(string name) => SafeTensors.ReadFloat32(Bytes, Header, name);
}
