namespace HealthTrain.Hub.Runs;

/// <summary>
/// Takes back jobs from stations that went silent past the lease (every half minute), and closes training rounds whose
/// deadline passed (every second), so runs do not wait forever.
/// </summary>
public sealed class LeaseSweeper(JobQueue queue, ILogger<LeaseSweeper> log) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private const int LeaseEvery = 30;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval);
        var tick = 0;
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                if (++tick % LeaseEvery == 0 && queue.SweepExpiredLeases() is var n and > 0) log.LogWarning("took back {Count} job(s) whose lease expired", n);
                if (queue.SweepRoundDeadlines() is var due and > 0) log.LogInformation("closed {Count} round(s) at their deadline", due);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "lease sweep failed");
            }
        }
    }
}
