namespace HealthTrain.Hub.Runs;

/// <summary>Wakes stations waiting in a long poll when new jobs are queued, so dispatch costs no poll interval.</summary>
public sealed class JobSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Notify() => Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Completes when <see cref="Notify"/> is called or the timeout passes, whichever is first.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        var next = Volatile.Read(ref _next).Task;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        await Task.WhenAny(next, Task.Delay(timeout, stop.Token));
        stop.Cancel(); // release the timer as soon as the signal wins

    }
}
