using HealthTrain.Trains.Sdk.Training;

namespace HealthTrain.Trains.Tests.Training;

public sealed class ClassificationMetricsTests
{
    [Fact]
    public void Auroc_is_the_share_of_correctly_ordered_pairs_with_ties_counting_half()
    {
        Assert.Equal(1.0, ClassificationMetrics.Auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]));
        Assert.Equal(0.0, ClassificationMetrics.Auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]));
        Assert.Equal(0.5, ClassificationMetrics.Auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]));
        // Pairs (pos, neg): (0.35 > 0.1 ✓), (0.35 < 0.4 ✗), (0.8 > 0.1 ✓), (0.8 > 0.4 ✓); the 0.4 tie with the positive 0.4 is half.
        Assert.Equal((3 + 0.5 + 1) / 6.0, ClassificationMetrics.Auroc([0.1, 0.4, 0.35, 0.8, 0.4], [0, 0, 1, 1, 1])!.Value, 12);
    }

    [Fact]
    public void Auroc_without_both_classes_is_undefined_not_nan()
    {
        Assert.Null(ClassificationMetrics.Auroc([0.1, 0.9], [1, 1]));
        Assert.Null(ClassificationMetrics.Auroc([], []));
    }

    [Fact]
    public void Accuracy_and_log_loss_match_hand_computed_values()
    {
        Assert.Equal(0.75, ClassificationMetrics.Accuracy([0.2, 0.6, 0.5, 0.4], [0, 1, 1, 1]));
        var expected = -(Math.Log(0.8) + Math.Log(0.6)) / 2;
        Assert.Equal(expected, ClassificationMetrics.LogLoss([0.2, 0.6], [0, 1])!.Value, 12);
        // Clipped: a confident mistake costs −log(ε), not infinity.
        Assert.Equal(-Math.Log(ClassificationMetrics.Epsilon), ClassificationMetrics.LogLoss([0.0], [1])!.Value, 6);
        Assert.Null(ClassificationMetrics.Accuracy([], []));
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Auroc([0.1], [0, 1]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Auroc([double.NaN, 0.2], [0, 1]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0.1, 0.2], [0, 2]));
    }

    [Fact]
    public void AddBinary_names_the_metrics_by_prefix_and_leaves_out_undefined_ones()
    {
        var metrics = new Dictionary<string, double>();
        ClassificationMetrics.AddBinary(metrics, "global", [0.2, 0.7], [0, 0]);
        Assert.Equal(["global_accuracy", "global_eval_samples", "global_loss"], metrics.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, metrics["global_eval_samples"]);
        Assert.Equal(0.5, metrics["global_accuracy"]);
    }
}
