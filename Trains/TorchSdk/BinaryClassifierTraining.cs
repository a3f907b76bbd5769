using TorchSharp;
using static TorchSharp.torch;

namespace HealthTrain.Trains.Torch;

/// <summary>How one station trains a one-logit binary classifier in a round.</summary>
/// <param name="Epochs">Passes over the local training part (0 evaluates only).</param>
/// <param name="BatchSize">Examples per step.</param>
/// <param name="LearningRate">Adam's step size.</param>
/// <param name="PositiveWeight">Weight of positive examples in the loss (&gt; 1 for rare positives).</param>
public sealed record BinaryTrainingOptions(int Epochs, int BatchSize, double LearningRate, double PositiveWeight = 1)
{
    /// <summary>Throws <see cref="Sdk.TrainInputException"/> for a value no run should have.</summary>
    public BinaryTrainingOptions Checked()
    {
        if (Epochs < 0) throw new Sdk.TrainInputException($"parameter 'epochs' must be ≥ 0, not {Epochs}");
        if (BatchSize < 1) throw new Sdk.TrainInputException($"parameter 'batch_size' must be ≥ 1, not {BatchSize}");
        if (!(LearningRate > 0)) throw new Sdk.TrainInputException($"parameter 'learning_rate' must be > 0, not {LearningRate}");
        if (!(PositiveWeight > 0)) throw new Sdk.TrainInputException($"parameter 'positive_weight' must be > 0, not {PositiveWeight}");
        return this;
    }
}

/// <summary>
/// Mini-batch training and prediction for a module mapping a batch to [n, 1] logits, with binary cross-entropy and,
/// when the round is FedProx, its proximal term. Inputs come from a function of example indices so callers keep
/// their data in whatever form they read it.
/// </summary>
public static class BinaryClassifierTraining
{
    /// <summary>Probabilities for examples 0..count−1 in eval mode, batch by batch.</summary>
    public static double[] Predict(nn.Module<Tensor, Tensor> model, Func<int[], Tensor> inputs, int count, int batchSize = 256)
    {
        model.eval();
        var result = new List<double>(count);
        using var _ = no_grad();
        for (var start = 0; start < count; start += batchSize)
        {
            var indices = Enumerable.Range(start, Math.Min(batchSize, count - start)).ToArray();
            using var scope = NewDisposeScope();
            result.AddRange(TorchData.Probabilities(model.forward(inputs(indices))));
        }
        return [.. result];
    }

    /// <summary>Trains on examples 0..labels.Count−1; returns the last epoch's mean loss (without the proximal term), or null for 0 epochs.</summary>
    public static double? Train(
        nn.Module<Tensor, Tensor> model, TorchTrainContext context, Func<int[], Tensor> inputs, IReadOnlyList<int> labels,
        BinaryTrainingOptions options, Random random)
    {
        options.Checked();
        if (options.Epochs == 0 || labels.Count == 0) return null;
        var trainable = model.parameters().Where(p => p.requires_grad).ToList();
        using var optimizer = optim.Adam(trainable, options.LearningRate);
        var global = context.Round.ProximalWeight > 0 ? TorchTrainContext.Snapshot(model) : null;
        using var positiveWeight = tensor(new[] { (float)options.PositiveWeight });
        double? epochLoss = null;
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            model.train();
            double sum = 0;
            foreach (var batch in TorchData.Batches(labels.Count, options.BatchSize, random))
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                var logits = model.forward(inputs(batch));
                var y = TorchData.BinaryLabels([.. batch.Select(i => labels[i])]);
                var loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weights: positiveWeight);
                var total = global is null ? loss : context.ProximalTerm(model, global) is { } prox ? loss + prox : loss;
                total.backward();
                optimizer.step();
                sum += loss.item<float>() * batch.Length;
            }
            epochLoss = sum / labels.Count;
        }
        return epochLoss;
    }
}
