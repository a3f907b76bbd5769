namespace HealthTrain.Trains.Sdk.Training;

/// <summary>
/// Binary classification metrics from predicted probabilities of the positive class and 0/1 labels, in plain C# so
/// they give the same figures wherever they run. Undefined values (an AUROC without both classes) are null, never NaN:
/// a station returns only finite numbers.
/// </summary>
public static class ClassificationMetrics
{
    /// <summary>Probabilities are clipped to [ε, 1 − ε] for the log loss, so one confident mistake costs a finite amount.</summary>
    public const double Epsilon = 1e-7;

    /// <summary>
    /// Area under the ROC curve: the probability that a random positive scores above a random negative, ties counting
    /// half (Mann–Whitney U with mid-ranks). Null when either class is absent.
    /// </summary>
    public static double? Auroc(IReadOnlyList<double> scores, IReadOnlyList<int> labels)
    {
        Check(scores, labels);
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double positiveRankSum = 0;
        long positives = 0;
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && scores[order[end + 1]] == scores[order[start]]) end++;
            var midRank = (start + end) / 2.0 + 1; // ranks are 1-based
            for (var k = start; k <= end; k++)
                if (labels[order[k]] == 1)
                {
                    positiveRankSum += midRank;
                    positives++;
                }
            start = end + 1;
        }
        long negatives = scores.Count - positives;
        if (positives == 0 || negatives == 0) return null;
        return (positiveRankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <summary>Share of predictions on the right side of <paramref name="threshold"/> (score ≥ threshold predicts 1); null for no samples.</summary>
    public static double? Accuracy(IReadOnlyList<double> scores, IReadOnlyList<int> labels, double threshold = 0.5)
    {
        Check(scores, labels);
        if (scores.Count == 0) return null;
        var correct = 0;
        for (var i = 0; i < scores.Count; i++)
            if ((scores[i] >= threshold ? 1 : 0) == labels[i]) correct++;
        return (double)correct / scores.Count;
    }

    /// <summary>Mean binary cross-entropy (natural log) of the probabilities; null for no samples.</summary>
    public static double? LogLoss(IReadOnlyList<double> probabilities, IReadOnlyList<int> labels)
    {
        Check(probabilities, labels);
        if (probabilities.Count == 0) return null;
        double sum = 0;
        for (var i = 0; i < probabilities.Count; i++)
        {
            var p = Math.Clamp(probabilities[i], Epsilon, 1 - Epsilon);
            sum -= labels[i] == 1 ? Math.Log(p) : Math.Log(1 - p);
        }
        return sum / probabilities.Count;
    }

    /// <summary>
    /// The usual set under one prefix: <c>{prefix}_loss</c>, <c>_auroc</c>, <c>_accuracy</c> (each only when defined) and
    /// <c>{prefix}_eval_samples</c>, added to <paramref name="metrics"/>.
    /// </summary>
    public static void AddBinary(IDictionary<string, double> metrics, string prefix, IReadOnlyList<double> probabilities, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (LogLoss(probabilities, labels) is { } loss) metrics[prefix + "_loss"] = loss;
        if (Auroc(probabilities, labels) is { } auroc) metrics[prefix + "_auroc"] = auroc;
        if (Accuracy(probabilities, labels) is { } accuracy) metrics[prefix + "_accuracy"] = accuracy;
        metrics[prefix + "_eval_samples"] = probabilities.Count;
    }

    private static void Check(IReadOnlyList<double> scores, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(labels);
        if (scores.Count != labels.Count) throw new ArgumentException($"{scores.Count} scores but {labels.Count} labels");
        for (var i = 0; i < scores.Count; i++)
        {
            if (!double.IsFinite(scores[i])) throw new ArgumentException($"score {i} is {scores[i]}, not a finite number", nameof(scores));
            if (labels[i] is not (0 or 1)) throw new ArgumentException($"label {i} is {labels[i]}, not 0 or 1", nameof(labels));
        }
    }
}
