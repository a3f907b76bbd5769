using System.Globalization;
using System.Text.Json.Serialization;

namespace HealthTrain.Hub.Merging;

/// <summary>
/// How a run's rounds merge the stations' model updates, chosen per run. Only the parameters of the chosen strategy
/// may be set; unset ones take the defaults below. <see cref="Validate"/> lists every problem.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>fedavg</c>: the sample-weighted mean of the updates (McMahan et al. 2017).</item>
/// <item><c>fedprox</c>: merged exactly like fedavg; <see cref="Mu"/> (required, ≥ 0) is the proximal coefficient the train
/// applies locally (Li et al. 2020), carried here so the hub can pass it to the train.</item>
/// <item><c>fedadam</c>: server-side Adam over the pseudo-gradient (Reddi et al. 2021, "Adaptive Federated
/// Optimization", Algorithm 2, without bias correction): Δ = weighted mean − global; m ← β1·m + (1−β1)·Δ;
/// v ← β2·v + (1−β2)·Δ²; global ← global + η·m / (√v + τ). Defaults η = 0.1, β1 = 0.9, β2 = 0.99 (Flower's),
/// τ = 1e-3 (the paper's).</item>
/// <item><c>median</c>: the coordinate-wise median, unweighted (Yin et al. 2018).</item>
/// <item><c>trimmed-mean</c>: per coordinate, drop the ⌊β·K⌋ largest and ⌊β·K⌋ smallest of the K values and average the
/// rest, unweighted (Yin et al. 2018); β = <see cref="TrimFraction"/> in [0, 0.5), default 0.1.</item>
/// <item><c>geometric-median</c>: the sample-weighted geometric median of the updates — the point minimising
/// Σ αₖ‖z − wₖ‖ — by smoothed Weiszfeld iterations (RFA, Pillutla et al. 2022): each iteration reweights the stations
/// by αₖ / max(ν, ‖z − wₖ‖), so a station far from the others, however far, moves the result by a bounded amount.</item>
/// </list>
/// With <see cref="NormBound"/>, any strategy first bounds the updates' norms: each update's distance from a reference
/// (the current global model, or in round 1 the coordinate-wise median of the updates) is scaled down to at most the
/// median of those distances (norm bounding, Sun et al. 2019, "Can you really backdoor federated learning?"), so no
/// single station can pull the merge further than a typical one.
/// </remarks>
public sealed record MergeStrategy
{
    public const string FedAvgName = "fedavg";
    public const string FedProxName = "fedprox";
    public const string FedAdamName = "fedadam";
    public const string MedianName = "median";
    public const string TrimmedMeanName = "trimmed-mean";
    public const string GeometricMedianName = "geometric-median";

    /// <summary>Every strategy name.</summary>
    public static readonly IReadOnlyList<string> Names = [FedAvgName, FedProxName, FedAdamName, MedianName, TrimmedMeanName, GeometricMedianName];

    /// <summary>geometric-median: Weiszfeld iterations at most, and the smoothing ν that keeps a weight finite at distance 0.</summary>
    public const int GeometricMedianIterations = 20;
    public const double GeometricMedianSmoothing = 1e-6;

    public const double DefaultServerLearningRate = 0.1;
    public const double DefaultBeta1 = 0.9;
    public const double DefaultBeta2 = 0.99;
    public const double DefaultTau = 1e-3;
    public const double DefaultTrimFraction = 0.1;

    /// <summary>One of <see cref="Names"/>.</summary>
    public string Name { get; init; } = FedAvgName;

    /// <summary>fedprox: the proximal coefficient μ the train adds as (μ/2)·‖w − global‖².</summary>
    public double? Mu { get; init; }

    /// <summary>fedadam: the server learning rate η.</summary>
    public double? ServerLearningRate { get; init; }

    /// <summary>fedadam: decay of the first moment, β1.</summary>
    public double? Beta1 { get; init; }

    /// <summary>fedadam: decay of the second moment, β2.</summary>
    public double? Beta2 { get; init; }

    /// <summary>fedadam: the adaptivity constant τ added to √v.</summary>
    public double? Tau { get; init; }

    /// <summary>trimmed-mean: the fraction β trimmed from each end of every coordinate's values.</summary>
    public double? TrimFraction { get; init; }

    /// <summary>Any strategy: bound each update's distance from the reference to the round's median distance first.</summary>
    public bool? NormBound { get; init; }

    /// <summary>Whether updates are norm-bounded before the merge.</summary>
    [JsonIgnore] public bool BoundsNorms => NormBound == true;

    public static MergeStrategy FedAvg() => new() { Name = FedAvgName };
    public static MergeStrategy FedProx(double mu) => new() { Name = FedProxName, Mu = mu };
    public static MergeStrategy FedAdam(double? serverLearningRate = null, double? beta1 = null, double? beta2 = null, double? tau = null) =>
        new() { Name = FedAdamName, ServerLearningRate = serverLearningRate, Beta1 = beta1, Beta2 = beta2, Tau = tau };
    public static MergeStrategy Median() => new() { Name = MedianName };
    public static MergeStrategy TrimmedMean(double? trimFraction = null) => new() { Name = TrimmedMeanName, TrimFraction = trimFraction };
    public static MergeStrategy GeometricMedian() => new() { Name = GeometricMedianName };

    /// <summary>η in effect.</summary>
    [JsonIgnore] public double EffectiveServerLearningRate => ServerLearningRate ?? DefaultServerLearningRate;
    /// <summary>β1 in effect.</summary>
    [JsonIgnore] public double EffectiveBeta1 => Beta1 ?? DefaultBeta1;
    /// <summary>β2 in effect.</summary>
    [JsonIgnore] public double EffectiveBeta2 => Beta2 ?? DefaultBeta2;
    /// <summary>τ in effect.</summary>
    [JsonIgnore] public double EffectiveTau => Tau ?? DefaultTau;
    /// <summary>β in effect.</summary>
    [JsonIgnore] public double EffectiveTrimFraction => TrimFraction ?? DefaultTrimFraction;

    /// <summary>How many values trimmed-mean drops from each end of a coordinate when <paramref name="updates"/> stations contribute.</summary>
    public int TrimmedPerEnd(int updates) => (int)Math.Floor(EffectiveTrimFraction * updates + 1e-9);

    /// <summary>Every problem with this choice; empty when it can be used.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Names.Contains(Name))
        {
            errors.Add($"unknown merge strategy '{Name}'; expected one of {string.Join(", ", Names)}");
            return errors;
        }
        void Only(string parameter, double? value, params string[] strategies)
        {
            if (value is not null && !strategies.Contains(Name))
                errors.Add($"{parameter} applies only to {string.Join(" and ", strategies)}, not to {Name}");
        }
        void Check(string parameter, double? value, Func<double, bool> ok, string rule)
        {
            if (value is { } v && (!double.IsFinite(v) || !ok(v)))
                errors.Add($"{parameter} must be {rule}, got {v.ToString(CultureInfo.InvariantCulture)}");
        }
        Only("mu", Mu, FedProxName);
        Only("serverLearningRate", ServerLearningRate, FedAdamName);
        Only("beta1", Beta1, FedAdamName);
        Only("beta2", Beta2, FedAdamName);
        Only("tau", Tau, FedAdamName);
        Only("trimFraction", TrimFraction, TrimmedMeanName);
        if (Name == FedProxName && Mu is null) errors.Add("fedprox needs mu, the proximal coefficient (≥ 0) the train applies");
        Check("mu", Mu, v => v >= 0, "≥ 0");
        Check("serverLearningRate", ServerLearningRate, v => v > 0, "> 0");
        Check("beta1", Beta1, v => v is >= 0 and < 1, "in [0, 1)");
        Check("beta2", Beta2, v => v is >= 0 and < 1, "in [0, 1)");
        Check("tau", Tau, v => v > 0, "> 0");
        Check("trimFraction", TrimFraction, v => v is >= 0 and < 0.5, "in [0, 0.5)");
        return errors;
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem, if there is any.</summary>
    public MergeStrategy EnsureValid()
    {
        var errors = Validate();
        return errors.Count == 0 ? this : throw new ArgumentException("invalid merge strategy: " + string.Join("; ", errors));
    }
}
