namespace HealthTrain.Hub.Runs;

/// <summary>Wakes stations waiting in a long poll when new jobs are queued, so dispatch costs no poll interval.</summary>
public sealed class JobSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Notify() => Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>The task the next <see cref="Notify"/> completes; take it before looking for work, so no notification is missed.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Completes when <paramref name="next"/> completes or the timeout passes, whichever is first.</summary>
    public static async Task WaitAsync(Task next, TimeSpan timeout, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        await Task.WhenAny(next, Task.Delay(timeout, stop.Token));
        stop.Cancel(); // release the timer as soon as the signal wins

    }
}
