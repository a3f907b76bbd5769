namespace HealthTrain.Cli.Images;

/// <summary>
/// How <see cref="TrainImageBuilder.BuildImageAsync"/> turns a publish output into an image. The
/// defaults give the real train image; the alternatives exist so tests can build deliberately broken
/// variants (bad or missing manifest label, forced behaviour) from the same publish output.
/// </summary>
public sealed record TrainImageOptions
{
    /// <summary>Full image reference; null means <c>healthtrain/&lt;name&gt;:&lt;version&gt;</c>.</summary>
    public string? Reference { get; init; }

    /// <summary>What goes into the <c>org.healthtrain.manifest</c> label.</summary>
    public ManifestLabel ManifestLabel { get; init; } = ManifestLabel.FromTrainJson;

    /// <summary>The image's USER; null means the train user 65532:65532. Tests set <c>root</c> for an image stations must not run as is.</summary>
    public string? User { get; init; }

    /// <summary>Arguments fixed into the ENTRYPOINT after the train executable (exec form, so the station's command cannot replace them).</summary>
    public IReadOnlyList<string> EntrypointArguments { get; init; } = [];
}

/// <summary>The value of a train image's <c>org.healthtrain.manifest</c> label.</summary>
public sealed class ManifestLabel
{
    private readonly string? literal;
    private readonly bool fromTrainJson;

    private ManifestLabel(string? literal, bool fromTrainJson)
    {
        this.literal = literal;
        this.fromTrainJson = fromTrainJson;
    }

    /// <summary>The train's validated train.json, compacted: what real images carry.</summary>
    public static ManifestLabel FromTrainJson { get; } = new(null, fromTrainJson: true);

    /// <summary>No manifest label at all, as in an image that was never built as a train.</summary>
    public static ManifestLabel Omitted { get; } = new(null, fromTrainJson: false);

    /// <summary>Exactly <paramref name="value"/>, unvalidated: for images with a malformed or lying manifest.</summary>
    public static ManifestLabel Literal(string value) => new(value ?? throw new ArgumentNullException(nameof(value)), fromTrainJson: false);

    /// <summary>The label value for a train whose compacted train.json is <paramref name="trainJson"/>; null means no label.</summary>
    public string? ValueFor(string trainJson) => fromTrainJson ? trainJson : literal;

    public override string ToString() => fromTrainJson ? "from train.json" : literal is null ? "omitted" : $"literal '{literal}'";
}
