namespace HealthTrain.Station.Jobs;

/// <summary>A job failed at a stage (pull, inspect, input, run, collect, upload) for a reason the hub should record.</summary>
public sealed class JobFailedException(string stage, string reason, int? exitCode = null, string? logTail = null) : Exception($"{stage}: {reason}")
{
    public string Stage { get; } = stage;
    public string Reason { get; } = reason;
    public int? ExitCode { get; } = exitCode;
    public string? LogTail { get; } = logTail;
    /// <summary>Where the time went up to the failure, when known.</summary>
    public HealthTrain.Trains.Protocol.JobTimings? Timings { get; init; }
    /// <summary>What the train had been given when it failed, if it got that far.</summary>
    public IReadOnlyList<HealthTrain.Trains.Protocol.JobInputSummary>? Inputs { get; init; }
}
