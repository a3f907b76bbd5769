using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>
/// Counts values into fixed bins, bin i being [edges[i], edges[i+1]); values below the first edge
/// are underflow, values at or above the last edge overflow. Use the manifest's edges.
/// </summary>
public sealed class HistogramAccumulator
{
    private readonly double[] edges;
    private readonly long[] counts;

    public HistogramAccumulator(IEnumerable<double> edges)
    {
        ArgumentNullException.ThrowIfNull(edges);
        this.edges = [.. edges];
        if (this.edges.Length < 2) throw new ArgumentException("a histogram needs at least two bin edges", nameof(edges));
        for (var i = 0; i < this.edges.Length; i++)
            if (!double.IsFinite(this.edges[i]) || (i > 0 && !(this.edges[i] > this.edges[i - 1])))
                throw new ArgumentException($"bin edges must be finite and strictly ascending; edge {i} is {this.edges[i]}", nameof(edges));
        counts = new long[this.edges.Length - 1];
    }

    public IReadOnlyList<double> Edges => edges;
    public IReadOnlyList<long> Counts => counts;
    public long Underflow { get; private set; }
    public long Overflow { get; private set; }

    public void Add(double value)
    {
        if (double.IsNaN(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "NaN falls in no bin");
        if (value < edges[0]) Underflow++;
        else if (value >= edges[^1]) Overflow++;
        else
        {
            // An exact hit on an edge opens that bin; otherwise the complement points past the bin's upper edge.
            var i = Array.BinarySearch(edges, value);
            counts[i >= 0 ? i : ~i - 1]++;
        }
    }

    public StatisticValue ToStatistic() =>
        new() { Kind = StatisticKinds.Histogram, Counts = [.. counts.Select(c => (long?)c)], Underflow = Underflow, Overflow = Overflow };
}
