using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Merging;

/// <summary>One station's accepted update for a round: its safetensors file and how many samples it trained on (the fedavg weight).</summary>
public sealed record ModelUpdate(string Station, string Path, long Samples);

/// <summary>What one round's merge takes.</summary>
public sealed record MergeRequest
{
    public required MergeStrategy Strategy { get; init; }

    /// <summary>The manifest's declared tensors (<c>Outputs.Tensors</c>): the layout of every update and of the output, in this order.</summary>
    public required IReadOnlyList<TensorDeclaration> Tensors { get; init; }

    /// <summary>The accepted updates, at least one, station names unique.</summary>
    public required IReadOnlyList<ModelUpdate> Updates { get; init; }

    /// <summary>The round being merged (1-based), recorded in the output's metadata.</summary>
    public int Round { get; init; } = 1;

    /// <summary>
    /// The current global model, or null when there is none yet (round 1). fedadam reads it (without one it falls back
    /// to the weighted mean and starts its moments at zero), and norm bounding measures distances from it (without one,
    /// from the updates' coordinate-wise median).
    /// </summary>
    public string? GlobalModelPath { get; init; }

    /// <summary>fedadam: the moments the previous round wrote (<see cref="FedAdamState"/>); null starts them at zero.</summary>
    public string? StatePath { get; init; }
}

/// <summary>What a merge wrote: the contributors and the metadata put on the new global model.</summary>
public sealed record MergeResult(
    MergeStrategy Strategy,
    int Round,
    IReadOnlyList<string> Contributors,
    long Samples,
    IReadOnlyDictionary<string, string> Metadata,
    bool WroteState)
{
    /// <summary>With norm bounding: each update's distance and the factor it was scaled by.</summary>
    public NormBoundReport? NormBound { get; init; }

    /// <summary>With geometric-median: the Weiszfeld iterations run and every station's final distance and weight.</summary>
    public GeometricMedianReport? GeometricMedian { get; init; }
}

/// <summary>How a geometric median was found: iterations, and each station's distance from it and its weight in it.</summary>
public sealed record GeometricMedianReport(int Iterations, IReadOnlyList<GeometricMedianStation> Stations);

/// <summary>One update's Euclidean distance from the geometric median and its weight (the weights sum to 1).</summary>
public sealed record GeometricMedianStation(string Station, double Distance, double Weight);

/// <summary>Norm bounding in a merge: the reference (<c>global</c> or <c>median</c>), the median distance, and every station's distance and factor.</summary>
public sealed record NormBoundReport(string Reference, double MedianDistance, IReadOnlyList<NormBoundStation> Stations);

/// <summary>One update's Euclidean distance from the reference and the factor (≤ 1) its difference was scaled by.</summary>
public sealed record NormBoundStation(string Station, double Distance, double Scale);

/// <summary>Naming of fedadam's persisted moments: tensor <c>m/NAME</c> and <c>v/NAME</c> for each merged float tensor NAME.</summary>
public static class FedAdamState
{
    public static string FirstMoment(string tensor) => "m/" + tensor;
    public static string SecondMoment(string tensor) => "v/" + tensor;

    /// <summary>The state document's declared tensors for a model's declared tensors: both moments of every float tensor.</summary>
    public static IReadOnlyList<TensorDeclaration> Declare(IReadOnlyList<TensorDeclaration> tensors) =>
        [.. tensors.Where(t => ModelMerger.IsMerged(t.Dtype)).SelectMany(t => new[] { t with { Name = FirstMoment(t.Name) }, t with { Name = SecondMoment(t.Name) } })];
}

/// <summary>Updates (or a global model or state) that cannot be merged: every problem, each naming its station or document.</summary>
public sealed class ModelMergeException(IReadOnlyList<string> problems)
    : Exception("the round's model updates cannot be merged: " + string.Join("; ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
