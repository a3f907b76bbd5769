using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>Builds the single-value statistics; the accumulators build the others.</summary>
public static class Statistic
{
    public static StatisticValue Count(long value) =>
        value >= 0 ? new() { Kind = StatisticKinds.Count, Value = value } : throw new ArgumentOutOfRangeException(nameof(value), value, "a count cannot be negative");

    public static StatisticValue Sum(double value) =>
        double.IsFinite(value) ? new() { Kind = StatisticKinds.Sum, Value = value } : throw new ArgumentOutOfRangeException(nameof(value), value, "a sum must be finite");
}
