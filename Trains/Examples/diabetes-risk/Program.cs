using HealthTrain.Examples.DiabetesRisk;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Sdk.Training;
using HealthTrain.Trains.Torch;

// One round of diabetes-risk at one station (docs/train-contract.md, "Training trains").
try
{
    var context = TorchTrainContext.FromEnvironment();
    var p = context.Parameters;
    var kind = p.GetString("model");
    if (!DiabetesRiskModel.Kinds.Contains(kind))
        throw new TrainInputException($"parameter 'model' must be one of {string.Join(", ", DiabetesRiskModel.Kinds)}, not '{kind}'");
    var heldOutFraction = p.GetDouble("held_out_fraction");
    if (heldOutFraction is < 0 or > 1) throw new TrainInputException($"parameter 'held_out_fraction' must be between 0 and 1, not {heldOutFraction}");
    var options = new BinaryTrainingOptions(p.GetInt("epochs"), p.GetInt("batch_size"), p.GetDouble("learning_rate"), p.GetDouble("positive_weight")).Checked();

    var examples = DiabetesFeatures.Build(
        context.Context.ReadView(DiabetesFeatures.PatientsInput),
        context.Context.ReadView(DiabetesFeatures.ObservationsInput),
        context.Context.ReadView(DiabetesFeatures.DiagnosesInput),
        p.GetDate("reference_date"), p.GetString("features"));
    var (training, heldOut) = HeldOutSplit.Split(examples, e => e.PatientKey, context.Round.Seed, heldOutFraction);

    var random = context.Seed();
    using var model = new DiabetesRiskModel(DiabetesFeatures.Count);
    if (!context.LoadGlobalModel(model)) model.ZeroUnusedPath(kind); // round 1: the seed's weights, the same at every station
    model.FreezeUnusedPath(kind);

    var metrics = new Dictionary<string, double>();
    var heldOutLabels = heldOut.Select(e => e.Label).ToList();
    ClassificationMetrics.AddBinary(metrics, "global",
        BinaryClassifierTraining.Predict(model, i => TorchData.Features([.. i.Select(k => heldOut[k].Features)], DiabetesFeatures.Count), heldOut.Count), heldOutLabels);

    var trainLoss = BinaryClassifierTraining.Train(model, context,
        i => TorchData.Features([.. i.Select(k => training[k].Features)], DiabetesFeatures.Count),
        [.. training.Select(e => e.Label)], options, random);
    if (trainLoss is { } loss) metrics["train_loss"] = loss;
    metrics["train_positives"] = training.Count(e => e.Label == 1);
    ClassificationMetrics.AddBinary(metrics, "local",
        BinaryClassifierTraining.Predict(model, i => TorchData.Features([.. i.Select(k => heldOut[k].Features)], DiabetesFeatures.Count), heldOut.Count), heldOutLabels);

    context.WriteUpdate(model);
    context.WriteMetrics(training.Count, metrics);
    Console.WriteLine($"diabetes-risk: round {context.Round.Round}/{context.Round.Rounds} ({context.Round.Strategy}), {kind}, " +
                      $"{training.Count} training and {heldOut.Count} held-out patients; " +
                      string.Join(", ", metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"{m.Key}={m.Value:0.####}")));
    return 0;
}
catch (TrainInputException e)
{
    Console.Error.WriteLine($"diabetes-risk: invalid input: {e.Message}");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"diabetes-risk: failed: {e}");
    return 1;
}
