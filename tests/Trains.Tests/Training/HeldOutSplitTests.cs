using HealthTrain.Trains.Sdk.Training;

namespace HealthTrain.Trains.Tests.Training;

public sealed class HeldOutSplitTests
{
    private static readonly string[] Keys = [.. Enumerable.Range(0, 5000).Select(i => $"Patient/{i:x8}-{i * 7919 % 10007}")];

    [Fact]
    public void The_same_id_and_seed_land_on_the_same_side_whatever_the_order()
    {
        var (training, heldOut) = HeldOutSplit.Split(Keys, k => k, seed: 42, heldOutFraction: 0.2);
        var (training2, heldOut2) = HeldOutSplit.Split(Keys.Reverse(), k => k, seed: 42, heldOutFraction: 0.2);
        Assert.Equal(heldOut.Order(StringComparer.Ordinal), heldOut2.Order(StringComparer.Ordinal));
        Assert.Equal(training.Count, training2.Count);
        Assert.Equal(Keys.Length, training.Count + heldOut.Count);
    }

    [Fact]
    public void The_held_out_share_follows_the_fraction_and_the_seed_changes_the_split()
    {
        var heldOut = Keys.Count(k => HeldOutSplit.IsHeldOut(k, 42, 0.2));
        Assert.InRange(heldOut, 900, 1100); // 1000 expected, binomial sd ≈ 28
        var other = Keys.Where(k => HeldOutSplit.IsHeldOut(k, 43, 0.2)).ToHashSet();
        var overlap = Keys.Count(k => HeldOutSplit.IsHeldOut(k, 42, 0.2) && other.Contains(k));
        Assert.InRange(overlap, 120, 280); // independent splits overlap in about 0.2 × 0.2 × 5000 = 200
    }

    [Fact]
    public void Fractions_zero_and_one_hold_out_nothing_and_everything_and_others_are_refused()
    {
        Assert.DoesNotContain(Keys, k => HeldOutSplit.IsHeldOut(k, 1, 0));
        Assert.All(Keys, k => Assert.True(HeldOutSplit.IsHeldOut(k, 1, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => HeldOutSplit.IsHeldOut("a", 1, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => HeldOutSplit.IsHeldOut("a", 1, double.NaN));
    }

    [Fact]
    public void The_hash_is_pinned_so_every_station_and_language_agrees()
    {
        // Computed independently (Python) from the documented algorithm; any change to the hash changes every split.
        Assert.Equal(HeldOutSplit.Hash64([]), HeldOutSplit.Hash64(""u8));
        Assert.Equal("3d53d658a174065b", HeldOutSplit.Hash64("42:Patient/1"u8).ToString("x16"));
        Assert.Equal(HeldOutSplit.ContentId([1, 2, 3]), HeldOutSplit.ContentId([1, 2, 3]));
        Assert.NotEqual(HeldOutSplit.ContentId([1, 2, 3]), HeldOutSplit.ContentId([1, 2, 4]));
    }
}
