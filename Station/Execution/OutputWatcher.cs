namespace HealthTrain.Station.Execution;

/// <summary>What a train may leave in <c>/output</c>: checked while it runs and again when its output is collected.</summary>
public sealed record OutputLimits(long MaxBytes, int MaxEntries)
{
    /// <summary>How often a running train's output folder is measured.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// Measures a running train's output folder and says when it broke the station's limits, so the train can be
/// stopped before it fills the station's disk rather than refused after it has.
/// </summary>
public static class OutputWatcher
{
    /// <summary>Why the output folder is over the limits right now, or null while it is within them.</summary>
    public static string? Check(string outputDir, OutputLimits limits)
    {
        OutputScan scan;
        try
        {
            scan = OutputScan.Of(outputDir, limits.MaxEntries);
        }
        catch (IOException e)
        {
            return $"the train made part of /output unreadable to the station and was stopped ({e.Message})";
        }
        if (scan.MoreThanLimit)
            return $"the train created more than the station's limit of {limits.MaxEntries} files and folders in /output and was stopped";
        var bytes = scan.Bytes;
        return bytes > limits.MaxBytes
            ? $"the train wrote more than the station's output cap of {limits.MaxBytes} bytes to /output and was stopped ({bytes} bytes seen)"
            : null;
    }

    /// <summary>Checks every <see cref="OutputLimits.Interval"/> until the limits are broken (the reason) or <paramref name="ct"/> ends the watch (null).</summary>
    public static async Task<string?> WatchAsync(string outputDir, OutputLimits limits, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(limits.Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                if (Check(outputDir, limits) is { } reason) return reason;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        return null;
    }
}
