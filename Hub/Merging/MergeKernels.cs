using System.Numerics;
using System.Numerics.Tensors;

namespace HealthTrain.Hub.Merging;

/// <summary>
/// The per-chunk arithmetic of the strategies, over spans, vectorised with <see cref="TensorPrimitives"/>: each
/// operation is one pass over a chunk that stays in cache.
/// </summary>
internal static class MergeKernels
{
    /// <summary>
    /// Sorts every coordinate across the rows (afterwards rows[0] holds each coordinate's smallest value, rows[^1] its
    /// largest) with Batcher's odd–even merge sorting network: O(K log² K) element-wise min/max passes, no branches
    /// per coordinate. The rows are permuted as buffers: entries of <paramref name="rows"/> and <paramref name="spare"/>
    /// swap places, which is harmless because every chunk is read afresh into whatever buffer sits at each index.
    /// </summary>
    public static void SortCoordinates<T>(T[][] rows, int n, ref T[] spare)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (a, b) in Comparators(rows.Length))
        {
            TensorPrimitives.Min(rows[a].AsSpan(0, n), rows[b].AsSpan(0, n), spare.AsSpan(0, n));
            TensorPrimitives.Max(rows[a].AsSpan(0, n), rows[b].AsSpan(0, n), rows[b].AsSpan(0, n));
            (rows[a], spare) = (spare, rows[a]);
        }
    }

    private static readonly Dictionary<int, (int, int)[]> Networks = [];

    /// <summary>Batcher's odd–even merge sort network for any n (Knuth, TAOCP 5.3.4, as given on Wikipedia's "Batcher odd–even mergesort").</summary>
    internal static (int A, int B)[] Comparators(int n)
    {
        lock (Networks)
        {
            if (Networks.TryGetValue(n, out var cached)) return cached;
            var pairs = new List<(int, int)>();
            for (var p = 1; p < n; p <<= 1)
                for (var k = p; k >= 1; k >>= 1)
                    for (var j = k % p; j + k < n; j += 2 * k)
                        for (var i = 0; i < k && i + j + k < n; i++)
                            if ((i + j) / (2 * p) == (i + j + k) / (2 * p))
                                pairs.Add((i + j, i + j + k));
            return Networks[n] = [.. pairs];
        }
    }

    /// <summary>destination = the mean of rows[from..to) (rows already sorted per coordinate).</summary>
    public static void MeanOfRows<T>(T[][] rows, int n, int from, int to, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        rows[from].AsSpan(0, n).CopyTo(destination);
        for (var k = from + 1; k < to; k++) TensorPrimitives.Add(destination, rows[k].AsSpan(0, n), destination);
        if (to - from > 1) TensorPrimitives.Multiply(destination, T.One / T.CreateChecked(to - from), destination);
    }

    /// <summary>
    /// One FedAdam server step on a chunk: Δ = mean − global; m ← β1·m + (1−β1)·Δ; v ← β2·v + (1−β2)·Δ²;
    /// destination = global + η·m / (√v + τ). <paramref name="mean"/> is used as scratch.
    /// </summary>
    public static void FedAdamStep<T>(Span<T> mean, ReadOnlySpan<T> global, Span<T> m, Span<T> v, Span<T> destination, Span<T> scratch,
        T eta, T beta1, T beta2, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var delta = mean;
        TensorPrimitives.Subtract(mean, global, delta);
        TensorPrimitives.Multiply(m, beta1, m);
        TensorPrimitives.MultiplyAdd(delta, T.One - beta1, m, m);
        TensorPrimitives.Multiply(delta, delta, scratch);
        TensorPrimitives.Multiply(v, beta2, v);
        TensorPrimitives.MultiplyAdd(scratch, T.One - beta2, v, v);
        TensorPrimitives.Sqrt(v, scratch);
        TensorPrimitives.Add(scratch, tau, scratch);
        TensorPrimitives.Divide(m, scratch, scratch);
        TensorPrimitives.MultiplyAdd(scratch, eta, global, destination);
    }
}
