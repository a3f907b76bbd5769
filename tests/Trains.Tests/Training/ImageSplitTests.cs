using HealthTrain.Cli.Data;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Trains.Tests.Training;

public sealed class ImageSplitTests
{
    /// <summary>300 images of 2×2, label 0 for the first 100 and 1 for the rest; each image's first pixel is its index mod 256 and the second its index / 256.</summary>
    private static ImageCollection Source()
    {
        const int count = 300;
        var pixels = new byte[count * 4];
        for (var i = 0; i < count; i++) { pixels[i * 4] = (byte)(i % 256); pixels[i * 4 + 1] = (byte)(i / 256); }
        return new ImageCollection(count, 2, 2, pixels, [.. Enumerable.Range(0, count).Select(i => i < 100 ? 0L : 1L)]);
    }

    private static int Index(ImageCollection c, int k) => c.Image(k)[0] + 256 * c.Image(k)[1];

    [Fact]
    public void Each_class_goes_mostly_to_its_own_station_and_every_image_exactly_once()
    {
        var parts = ImageSplit.LabelSkewed(Source(), 3, 0.8, seed: 42);

        Assert.Equal(3, parts.Count);
        Assert.Equal(80, parts[0].Labels.Count(l => l == 0)); // class 0 at station 1
        Assert.Equal(160, parts[1].Labels.Count(l => l == 1)); // class 1 at station 2
        Assert.Equal([10, 10], new[] { parts[1].Labels.Count(l => l == 0), parts[2].Labels.Count(l => l == 0) });
        Assert.Equal([20, 20], new[] { parts[0].Labels.Count(l => l == 1), parts[2].Labels.Count(l => l == 1) });
        var seen = parts.SelectMany(p => Enumerable.Range(0, p.Count).Select(k => (Index(p, k), p.Labels[k]))).ToList();
        Assert.Equal(300, seen.Select(s => s.Item1).Distinct().Count());
        Assert.All(seen, s => Assert.Equal(s.Item1 < 100 ? 0L : 1L, s.Item2)); // labels travel with their images
    }

    [Fact]
    public void The_same_seed_gives_the_same_split_and_another_seed_another()
    {
        IEnumerable<int> Indexes(IReadOnlyList<ImageCollection> parts) => Enumerable.Range(0, parts[0].Count).Select(k => Index(parts[0], k));
        Assert.Equal(Indexes(ImageSplit.LabelSkewed(Source(), 3, 0.8, 1)), Indexes(ImageSplit.LabelSkewed(Source(), 3, 0.8, 1)));
        Assert.NotEqual(Indexes(ImageSplit.LabelSkewed(Source(), 3, 0.8, 1)), Indexes(ImageSplit.LabelSkewed(Source(), 3, 0.8, 2)));
    }

    [Theory]
    [InlineData(1, 0.9)]
    [InlineData(3, 0.2)]
    [InlineData(3, 1.1)]
    [InlineData(3, double.NaN)]
    public void Refuses_impossible_splits(int parts, double skew) =>
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => ImageSplit.LabelSkewed(Source(), parts, skew, 1));
}
