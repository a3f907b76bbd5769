namespace HealthTrain.Trains.Protocol;

/// <summary>The hub's exact pooling of every station's statistics for one round.</summary>
public sealed record PooledStatistics
{
    /// <summary>Names of the stations whose results were pooled.</summary>
    public IReadOnlyList<string> Stations { get; init; } = [];
    public IReadOnlyList<PooledStatistic> Statistics { get; init; } = [];

    /// <summary>
    /// Each pooled station's small-cell suppression, as its result recorded it (k and cells withheld); stations whose
    /// results carry no such record are left out. Null when none does.
    /// </summary>
    public IReadOnlyList<StationSuppression>? Disclosure { get; init; }
}

/// <summary>One station's suppression in a pooled round: its k and how many of its cells it withheld.</summary>
public sealed record StationSuppression(string Station, int MinCellCount, int SuppressedCells);

/// <summary>
/// One pooled statistic. Count and sum: <see cref="Value"/> or <see cref="Categories"/>.
/// Mean: N and Mean. Variance: N, Mean, M2 and the sample variance (M2 / (N - 1), null when N &lt; 2).
/// Histogram: Bins (edges), Counts, Underflow, Overflow.
/// A cell named in <see cref="Suppressed"/> is not exact: some stations withheld their part of it.
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

    /// <summary>
    /// Cells (named as in <see cref="SuppressedCells"/>) with suppressed contributions, and at how many stations. A count cell
    /// named here is a lower bound: the exact contributions plus one for each suppressed one (a suppressed cell is never 0).
    /// <c>n</c> here means N, Mean and M2 are pooled only over the stations that released them (<see cref="Stations"/>).
    /// Null when nothing was suppressed.
    /// </summary>
    public Dictionary<string, int>? Suppressed { get; init; }
}
