using HealthTrain.Trains.Protocol.Models;
using static TorchSharp.torch;

namespace HealthTrain.Trains.Torch;

/// <summary>Turns the SDK's plain arrays into tensors and back, and draws mini-batches.</summary>
public static class TorchData
{
    /// <summary>Rows of features as a float32 [N, F] tensor.</summary>
    public static Tensor Features(IReadOnlyList<float[]> rows, int featureCount)
    {
        var flat = new float[rows.Count * featureCount];
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != featureCount) throw new ArgumentException($"row {i} has {rows[i].Length} features, expected {featureCount}", nameof(rows));
            rows[i].CopyTo(flat, i * featureCount);
        }
        return tensor(flat, dtype: float32).reshape(rows.Count, featureCount);
    }

    /// <summary>0/1 labels as a float32 [N, 1] tensor, the shape a one-logit model's loss wants.</summary>
    public static Tensor BinaryLabels(IReadOnlyList<int> labels) =>
        tensor(labels.Select(l => (float)l).ToArray(), dtype: float32).reshape(labels.Count, 1);

    /// <summary>Selected images as float32 [n, 1, H, W] in [0, 1].</summary>
    public static Tensor Images(ImageCollection collection, IReadOnlyList<int> indices)
    {
        var size = collection.Height * collection.Width;
        var flat = new float[indices.Count * size];
        for (var k = 0; k < indices.Count; k++)
        {
            var image = collection.Image(indices[k]);
            for (var p = 0; p < size; p++) flat[k * size + p] = image[p] / 255f;
        }
        return tensor(flat, dtype: float32).reshape(indices.Count, 1, collection.Height, collection.Width);
    }

    /// <summary>A probability per row from a [N, 1] logit tensor.</summary>
    public static double[] Probabilities(Tensor logits)
    {
        using var p = logits.detach().sigmoid().flatten().to(float32);
        return [.. p.data<float>().ToArray().Select(v => (double)v)];
    }

    /// <summary>Mini-batches of indices 0..n−1 in an order drawn from <paramref name="random"/>.</summary>
    public static IEnumerable<int[]> Batches(int count, int batchSize, Random random)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be at least 1");
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        for (var start = 0; start < count; start += batchSize) yield return order[start..Math.Min(count, start + batchSize)];
    }
}
