namespace HealthTrain.Trains.Protocol;

/// <summary>The hub's exact pooling of every station's statistics for one round.</summary>
public sealed record PooledStatistics
{
    /// <summary>Names of the stations whose results were pooled.</summary>
    public IReadOnlyList<string> Stations { get; init; } = [];
    public IReadOnlyList<PooledStatistic> Statistics { get; init; } = [];
}

/// <summary>
/// One pooled statistic. Count and sum: <see cref="Value"/> or <see cref="Categories"/>.
/// Mean: N and Mean. Variance: N, Mean, M2 and the sample variance (M2 / (N - 1), null when N &lt; 2).
/// Histogram: Bins (edges), Counts, Underflow, Overflow.
/// </summary>
public sealed record PooledStatistic
{
    public string Name { get; init; } = "";
    public string Kind { get; init; } = "";
    public string? Unit { get; init; }
    public string? Description { get; init; }
    /// <summary>How many stations contributed.</summary>
    public int Stations { get; init; }
    public double? Value { get; init; }
    public Dictionary<string, double>? Categories { get; init; }
    public long? N { get; init; }
    public double? Mean { get; init; }
    public double? M2 { get; init; }
    public double? Variance { get; init; }
    public IReadOnlyList<double>? Bins { get; init; }
    public long[]? Counts { get; init; }
    public long? Underflow { get; init; }
    public long? Overflow { get; init; }
}
