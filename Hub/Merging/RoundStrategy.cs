using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Merging;

/// <summary>A training run's settings read as the merge engine's strategy and as the quorum a round needs.</summary>
public static class RoundStrategy
{
    public static MergeStrategy Of(TrainingSettings settings) => new()
    {
        Name = settings.Strategy,
        Mu = settings.ProximalMu,
        ServerLearningRate = settings.ServerLearningRate,
        Beta1 = settings.Beta1,
        Beta2 = settings.Beta2,
        Tau = settings.Tau,
        TrimFraction = settings.TrimFraction,
        NormBound = settings.NormBound,
    };

    /// <summary>How many of <paramref name="stations"/> must contribute for a round to merge (at least one).</summary>
    public static int Quorum(TrainingSettings settings, int stations) =>
        Math.Max(Math.Max(settings.MinStations ?? 1, settings.MinFraction is { } f ? (int)Math.Ceiling(f * stations - 1e-9) : 1), 1);
}
