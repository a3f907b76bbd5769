namespace HealthTrain.Station.Execution;

/// <summary>
/// Hands out the station's GPUs by device id so that no GPU is ever given to two jobs at once.
/// A train that asks for more GPUs than the station has is refused, never run on CPU instead.
/// </summary>
public sealed class GpuAllocator(IReadOnlyList<string> deviceIds)
{
    private readonly HashSet<string> _busy = [];
    private readonly Lock _gate = new();

    public IReadOnlyList<string> DeviceIds { get; } = deviceIds;

    /// <summary>Null when the station can never satisfy <paramref name="count"/> GPUs, else why not is null and the lease may still be busy.</summary>
    public string? WhyNever(int count) => count <= DeviceIds.Count ? null
        : DeviceIds.Count == 0
            ? $"the train asks for {count} GPU(s) and this station offers none; it is not run on CPU instead"
            : $"the train asks for {count} GPU(s) and this station offers only {DeviceIds.Count}";

    /// <summary>Takes <paramref name="count"/> free GPUs, or returns null if not enough are free right now.</summary>
    public GpuLease? TryLease(int count)
    {
        if (count == 0) return new GpuLease(this, []);
        lock (_gate)
        {
            var free = DeviceIds.Where(id => !_busy.Contains(id)).Take(count).ToList();
            if (free.Count < count) return null;
            foreach (var id in free) _busy.Add(id);
            return new GpuLease(this, free);
        }
    }

    internal void Release(IReadOnlyList<string> ids)
    {
        lock (_gate) foreach (var id in ids) _busy.Remove(id);
    }
}

/// <summary>GPUs held by one job until disposed.</summary>
public sealed class GpuLease(GpuAllocator owner, IReadOnlyList<string> deviceIds) : IDisposable
{
    private int _released;

    public IReadOnlyList<string> DeviceIds { get; } = deviceIds;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release(DeviceIds);
    }
}
