namespace HealthTrain.Station.Execution;

/// <summary>One locked-down execution of a train image: what it sees, and the limits it runs under.</summary>
public sealed record TrainExecution(
    string Image,
    string User,
    string InputDir,
    string OutputDir,
    double Cpus,
    long MemoryBytes,
    long PidsLimit,
    long TmpBytes,
    TimeSpan Timeout,
    IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>GPU device ids given to this execution only; empty for none.</summary>
    public IReadOnlyList<string> GpuDeviceIds { get; init; } = [];

    /// <summary>Docker device driver that provides the GPUs.</summary>
    public string GpuDriver { get; init; } = "nvidia";

    /// <summary>Limits on <c>/output</c> watched while the train runs; a train that breaks them is stopped. Null: not watched.</summary>
    public OutputLimits? OutputLimits { get; init; }
}

/// <summary>How an execution ended.</summary>
public sealed record ExecutionOutcome(long ExitCode, bool TimedOut, string LogTail, long CreateStartMs, long RunMs)
{
    /// <summary>Why the train was stopped for what it wrote to <c>/output</c>; null if it was not.</summary>
    public string? OutputOverrun { get; init; }
}

/// <summary>
/// Runs an approved train with the given mounts and limits and reports how it ended. Docker is the
/// default; a Kubernetes Job implementation can sit behind the same interface.
/// </summary>
public interface ITrainExecutor
{
    Task<ExecutionOutcome> ExecuteAsync(TrainExecution execution, CancellationToken ct);
}

/// <summary>Docker refused to start the train's container; the message says why in the station's terms.</summary>
public sealed class TrainStartException(string message) : Exception(message);
