using System.Text.Json.Serialization;

namespace HealthTrain.Trains.Sdk.Training;

/// <summary>
/// <c>/output/metrics.json</c> of a training train: how many examples it trained on (the weight of its update) and named
/// finite numbers — <c>global_*</c> for the received model on the held-out part before training, <c>local_*</c> after.
/// </summary>
public sealed record TrainingMetrics
{
    /// <summary>The file under the output folder.</summary>
    public const string FileName = "metrics.json";

    /// <summary>Training examples the update was computed from.</summary>
    [JsonPropertyName("samples")]
    public long Samples { get; init; }

    [JsonPropertyName("metrics")]
    public SortedDictionary<string, double> Metrics { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first problem: negative samples, a non-finite or badly named metric.</summary>
    public void Validate()
    {
        if (Samples < 0) throw new InvalidOperationException($"samples must be ≥ 0, not {Samples}");
        foreach (var (name, value) in Metrics)
        {
            if (name.Length == 0 || !char.IsAsciiLetterLower(name[0]) || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
                throw new InvalidOperationException($"metric name '{name}' must be lower-case letters, digits and '_', starting with a letter");
            if (!double.IsFinite(value)) throw new InvalidOperationException($"metric '{name}' is {value}; only finite numbers may leave the station");
        }
    }
}
