using System.Text.Json;

namespace HealthTrain.Trains.Sdk.Training;

/// <summary>
/// <c>/input/round.json</c>: which round of which run a training train is in, how the hub merges the updates, and the
/// seed every station shares (same seed, same initial weights when no global model is given).
/// </summary>
/// <param name="Run">The run's id at the hub.</param>
/// <param name="Round">1-based round number.</param>
/// <param name="Rounds">How many rounds the run has.</param>
/// <param name="Strategy">One of <see cref="Strategies"/>.</param>
/// <param name="ProximalMu">For <c>fedprox</c>: μ of the proximal term (μ/2)·‖w − w_global‖² the train adds to its loss; null otherwise.</param>
/// <param name="Seed">The run's seed.</param>
public sealed record RoundInfo(long Run, int Round, int Rounds, string Strategy, double? ProximalMu, long Seed)
{
    /// <summary>The file under the input folder.</summary>
    public const string FileName = "round.json";

    /// <summary>The merge strategies a hub may name.</summary>
    public static readonly IReadOnlyList<string> Strategies = ["fedavg", "fedprox", "fedadam", "median", "trimmed-mean", "geometric-median"];

    /// <summary>True in the first round.</summary>
    public bool IsFirst => Round == 1;

    /// <summary>μ of the proximal term when the strategy asks for one (fedprox with μ &gt; 0), else 0.</summary>
    public double ProximalWeight => Strategy == "fedprox" && ProximalMu is > 0 and var mu ? mu : 0;

    /// <summary>Reads and checks <paramref name="path"/>; any problem throws <see cref="TrainInputException"/> naming the member.</summary>
    public static RoundInfo Load(string path)
    {
        if (!File.Exists(path))
            throw new TrainInputException($"{path} does not exist: a training train is started by a station with the round it is in");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses round.json text; <paramref name="source"/> names it in errors.</summary>
    public static RoundInfo Parse(ReadOnlySpan<byte> json, string source = FileName)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TrainInputException($"{source} is not valid JSON: {e.Message}", e);
        }
        if (root.ValueKind != JsonValueKind.Object) throw new TrainInputException($"{source} must hold a JSON object, not {root.ValueKind}");

        long Integer(string name)
        {
            if (!root.TryGetProperty(name, out var v)) throw new TrainInputException($"{source}: '{name}' is missing");
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var x) ? x : throw new TrainInputException($"{source}: '{name}' must be an integer, not {v.GetRawText()}");
        }

        var run = Integer("run");
        var round = Integer("round");
        var rounds = Integer("rounds");
        var seed = Integer("seed");
        if (rounds is < 1 or > int.MaxValue) throw new TrainInputException($"{source}: 'rounds' must be at least 1, not {rounds}");
        if (round < 1 || round > rounds) throw new TrainInputException($"{source}: 'round' must be between 1 and rounds ({rounds}), not {round}");
        if (!root.TryGetProperty("strategy", out var s) || s.ValueKind != JsonValueKind.String)
            throw new TrainInputException($"{source}: 'strategy' must be a string, one of {string.Join(", ", Strategies)}");
        var strategy = s.GetString()!;
        if (!Strategies.Contains(strategy))
            throw new TrainInputException($"{source}: strategy '{strategy}' is not one of {string.Join(", ", Strategies)}");
        double? mu = null;
        if (root.TryGetProperty("proximalMu", out var m) && m.ValueKind != JsonValueKind.Null)
        {
            if (m.ValueKind != JsonValueKind.Number || !m.TryGetDouble(out var x) || !double.IsFinite(x) || x < 0)
                throw new TrainInputException($"{source}: 'proximalMu' must be null or a number ≥ 0, not {m.GetRawText()}");
            mu = x;
        }
        if (strategy == "fedprox" && mu is null) throw new TrainInputException($"{source}: strategy fedprox needs 'proximalMu'");
        return new RoundInfo(run, (int)round, (int)rounds, strategy, mu, seed);
    }
}
