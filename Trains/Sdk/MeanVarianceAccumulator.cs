using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>
/// Welford's online mean and variance: one pass, numerically stable, and it yields exactly the
/// (n, mean, M2) the hub needs to pool stations without seeing their values.
/// </summary>
public sealed class MeanVarianceAccumulator
{
    private long n;
    private double mean;
    private double m2;

    public void Add(double value)
    {
        // One NaN would silently poison every later value and the pooled result.
        if (!double.IsFinite(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "only finite values can be accumulated");
        n++;
        var delta = value - mean;
        mean += delta / n;
        m2 += delta * (value - mean);
    }

    public long N => n;

    /// <summary>Null while nothing has been added.</summary>
    public double? Mean => n > 0 ? mean : null;

    /// <summary>Sum of squared deviations from the mean; null while nothing has been added.</summary>
    public double? M2 => n > 0 ? m2 : null;

    /// <summary>Sample variance M2 / (n - 1); null below two values.</summary>
    public double? Variance => n > 1 ? m2 / (n - 1) : null;

    public StatisticValue ToMean() => new() { Kind = StatisticKinds.Mean, N = n, Mean = Mean };

    public StatisticValue ToVariance() => new() { Kind = StatisticKinds.Variance, N = n, Mean = Mean, M2 = M2 };
}
