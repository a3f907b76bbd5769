using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Jobs;

/// <summary>
/// What a training train leaves in <c>/output</c>, once checked: its update file, the samples it trained on (the update's
/// weight), its named metrics, and its statistics if it declares any. Also the files of the training contract.
/// </summary>
public sealed record TrainingOutput(string UpdatePath, long Samples, IReadOnlyDictionary<string, double> Metrics, StatisticsResult Statistics)
{
    public const string UpdateFileName = "update.safetensors";
    public const string MetricsFileName = "metrics.json";
    public const string RoundFileName = "round.json";
    /// <summary>Relative to <c>/input</c>.</summary>
    public const string GlobalModelPath = "model/global.safetensors";

    /// <summary>The <c>round.json</c> a training train reads.</summary>
    public static string RoundJson(JobAssignment job) => new JsonObject
    {
        ["run"] = job.RunId,
        ["round"] = job.Round,
        ["rounds"] = job.Training!.Rounds,
        ["strategy"] = job.Training.Strategy,
        ["proximalMu"] = job.Training.ProximalMu,
        ["seed"] = job.Training.Seed,
    }.ToJsonString();

    /// <summary>
    /// Reads <c>{"samples": N, "metrics": {"name": number, …}}</c>, nothing else; returns the problem when it is not that.
    /// <paramref name="evaluationOnly"/> also accepts N = 0, for an execution that only scores a model (never an update).
    /// </summary>
    public static (long Samples, IReadOnlyDictionary<string, double> Metrics, string? Problem) ParseMetrics(byte[] json, bool evaluationOnly = false)
    {
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (0, metrics, "it must be a JSON object");
            long samples = -1;
            foreach (var member in root.EnumerateObject())
            {
                switch (member.Name)
                {
                    case "samples" when member.Value.ValueKind == JsonValueKind.Number && member.Value.TryGetInt64(out var n) && (n > 0 || (evaluationOnly && n == 0)):
                        samples = n;
                        break;
                    case "samples":
                        return (0, metrics, $"samples must be a positive integer, not {member.Value.GetRawText()}");
                    case "metrics" when member.Value.ValueKind == JsonValueKind.Object:
                        foreach (var m in member.Value.EnumerateObject())
                        {
                            if (!IsMetricName(m.Name)) return (0, metrics, $"metric name '{m.Name}' must be lower-case letters, digits and '_', starting with a letter");
                            if (m.Value.ValueKind != JsonValueKind.Number || !m.Value.TryGetDouble(out var v) || !double.IsFinite(v))
                                return (0, metrics, $"metric '{m.Name}' must be a finite number, not {m.Value.GetRawText()}");
                            if (!metrics.TryAdd(m.Name, v)) return (0, metrics, $"metric '{m.Name}' appears twice");
                        }
                        break;
                    default:
                        return (0, metrics, $"unexpected member '{member.Name}': only samples and metrics");
                }
            }
            return samples < 0 ? (0, metrics, "samples is missing") : (samples, metrics, null);
        }
        catch (JsonException e)
        {
            return (0, metrics, $"not JSON: {e.Message}");
        }
    }

    private static bool IsMetricName(string name) =>
        name.Length is > 0 and <= 64 && char.IsAsciiLetterLower(name[0]) && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    /// <summary>A metric value as the log shows it.</summary>
    public static string Format(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
