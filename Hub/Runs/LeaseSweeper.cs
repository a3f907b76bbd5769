namespace HealthTrain.Hub.Runs;

/// <summary>Every half minute, takes back jobs from stations that went silent past the lease, so runs do not wait forever.</summary>
public sealed class LeaseSweeper(JobQueue queue, ILogger<LeaseSweeper> log) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(ct))
        {
            try
            {
                if (queue.SweepExpiredLeases() is var n and > 0) log.LogWarning("took back {Count} job(s) whose lease expired", n);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError(e, "lease sweep failed");
            }
        }
    }
}
