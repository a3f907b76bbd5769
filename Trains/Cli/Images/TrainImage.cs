using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Images;

/// <summary>A built train image.</summary>
/// <param name="Reference">The tag it was built as, e.g. <c>healthtrain/cohort-stats:1.0.0</c>.</param>
/// <param name="ImageId">The daemon's image ID (<c>sha256:…</c>).</param>
/// <param name="Manifest">The validated manifest from train.json.</param>
/// <param name="LayerBytes">Bytes the train adds on top of the runtime image: its own layer.</param>
public sealed record TrainImage(string Reference, string ImageId, TrainManifest Manifest, long LayerBytes);
