using HealthTrain.Examples.PneumoniaCnn;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Sdk.Training;
using HealthTrain.Trains.Torch;

// One round of pneumonia-cnn at one station (docs/train-contract.md, "Training trains"). Images come from the
// image-collection input "xrays": uint8 [N, 28, 28], labels 0 = normal, 1 = pneumonia.
try
{
    var context = TorchTrainContext.FromEnvironment();
    var p = context.Parameters;
    var heldOutFraction = p.GetDouble("held_out_fraction");
    if (heldOutFraction is < 0 or > 1) throw new TrainInputException($"parameter 'held_out_fraction' must be between 0 and 1, not {heldOutFraction}");
    var options = new BinaryTrainingOptions(p.GetInt("epochs"), p.GetInt("batch_size"), p.GetDouble("learning_rate"), p.GetDouble("positive_weight")).Checked();

    var xrays = context.Context.ReadImageCollection("xrays");
    if (xrays.Height != PneumoniaCnnModel.Side || xrays.Width != PneumoniaCnnModel.Side)
        throw new TrainInputException($"image collection 'xrays' holds {xrays.Height}×{xrays.Width} images; this train needs {PneumoniaCnnModel.Side}×{PneumoniaCnnModel.Side}");
    for (var i = 0; i < xrays.Count; i++)
        if (xrays.Labels[i] is not (0 or 1)) throw new TrainInputException($"image collection 'xrays': label {i} is {xrays.Labels[i]}, expected 0 (normal) or 1 (pneumonia)");
    // Images carry no id: their content is one, and keeps the split the same whatever order they come in.
    var (training, heldOut) = HeldOutSplit.Split(Enumerable.Range(0, xrays.Count), i => HeldOutSplit.ContentId(xrays.Image(i)), context.Round.Seed, heldOutFraction);

    var random = context.Seed();
    using var model = new PneumoniaCnnModel();
    context.LoadGlobalModel(model); // round 1 without one: the seed's weights, the same at every station

    var metrics = new Dictionary<string, double>();
    var heldOutLabels = heldOut.Select(i => (int)xrays.Labels[i]).ToList();
    ClassificationMetrics.AddBinary(metrics, "global",
        BinaryClassifierTraining.Predict(model, k => TorchData.Images(xrays, [.. k.Select(j => heldOut[j])]), heldOut.Count), heldOutLabels);
    var trainLoss = BinaryClassifierTraining.Train(model, context, k => TorchData.Images(xrays, [.. k.Select(j => training[j])]),
        [.. training.Select(i => (int)xrays.Labels[i])], options, random);
    if (trainLoss is { } loss) metrics["train_loss"] = loss;
    ClassificationMetrics.AddBinary(metrics, "local",
        BinaryClassifierTraining.Predict(model, k => TorchData.Images(xrays, [.. k.Select(j => heldOut[j])]), heldOut.Count), heldOutLabels);

    context.WriteUpdate(model);
    context.WriteMetrics(training.Count, metrics);
    Console.WriteLine($"pneumonia-cnn: round {context.Round.Round}/{context.Round.Rounds} ({context.Round.Strategy}), " +
                      $"{training.Count} training and {heldOut.Count} held-out images; " +
                      string.Join(", ", metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{m.Key}={m.Value:0.####}")));
    return 0;
}
catch (TrainInputException e)
{
    Console.Error.WriteLine($"pneumonia-cnn: invalid input: {e.Message}");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"pneumonia-cnn: failed: {e}");
    return 1;
}
