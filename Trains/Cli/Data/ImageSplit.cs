using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Cli.Data;

/// <summary>
/// Splits an image collection into per-station parts with label skew, the non-IID case federated image models meet
/// between hospitals: the images of label class c go mostly (<c>skew</c>) to station c mod N, the rest in equal shares
/// to the others. Within a class the order is a seeded shuffle, so a split is reproducible.
/// </summary>
public static class ImageSplit
{
    /// <summary>
    /// The <paramref name="parts"/> parts of <paramref name="source"/>, each in the source's image order; <paramref name="skew"/>
    /// is the share of each class that goes to its own station, in [1/N, 1] (1/N: an IID split by class), and
    /// <paramref name="seed"/> fixes the shuffle.
    /// </summary>
    public static IReadOnlyList<ImageCollection> LabelSkewed(ImageCollection source, int parts, double skew, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 2);
        if (!double.IsFinite(skew) || skew < 1.0 / parts - 1e-9 || skew > 1)
            throw new ArgumentOutOfRangeException(nameof(skew), skew, $"the skew must be between 1/{parts} and 1");
        var owner = new int[source.Count];
        var classes = source.Labels.Distinct().Order().ToList();
        var random = new Random(seed);
        foreach (var (label, c) in classes.Select((l, i) => (l, i)))
        {
            var members = Enumerable.Range(0, source.Count).Where(i => source.Labels[i] == label).ToArray();
            random.Shuffle(members);
            var home = c % parts;
            var shares = Enumerable.Range(0, parts).Select(p => p == home ? skew : (1 - skew) / (parts - 1)).ToArray();
            // Cumulative boundaries, rounded, so every image goes to exactly one station.
            var start = 0;
            var cumulative = 0.0;
            for (var p = 0; p < parts; p++)
            {
                cumulative += shares[p];
                var end = p == parts - 1 ? members.Length : (int)Math.Round(cumulative * members.Length);
                for (var k = start; k < end; k++) owner[members[k]] = p;
                start = end;
            }
        }
        return [.. Enumerable.Range(0, parts).Select(p => Subset(source, Enumerable.Range(0, source.Count).Where(i => owner[i] == p).ToArray()))];
    }

    /// <summary>The images at <paramref name="indexes"/>, in that order.</summary>
    public static ImageCollection Subset(ImageCollection source, IReadOnlyList<int> indexes)
    {
        var size = source.Height * source.Width;
        var pixels = new byte[indexes.Count * size];
        var labels = new long[indexes.Count];
        for (var k = 0; k < indexes.Count; k++)
        {
            source.Image(indexes[k]).CopyTo(pixels.AsSpan(k * size, size));
            labels[k] = source.Labels[indexes[k]];
        }
        return new ImageCollection(indexes.Count, source.Height, source.Width, pixels, labels);
    }
}
