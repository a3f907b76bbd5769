using System.Globalization;

namespace HealthTrain.Station.Privacy;

/// <summary>
/// Station settings, section <c>Station:Privacy</c>: differential privacy for the model updates this station releases.
/// Disabled while <see cref="NoiseMultiplier"/> is 0 (the default); when enabled every other value must be set.
/// </summary>
public sealed record PrivacyOptions
{
    /// <summary>C: the largest L2 norm of (update − global model) over all tensors that leaves the station; larger ones are scaled down to it.</summary>
    public double ClipNorm { get; set; }

    /// <summary>z: the Gaussian noise added to each coordinate has standard deviation z·C. 0 disables privacy.</summary>
    public double NoiseMultiplier { get; set; }

    /// <summary>δ of the (ε, δ) guarantee; choose it well below 1 / (patients in the dataset).</summary>
    public double Delta { get; set; }

    /// <summary>The total ε this station's dataset may spend over all runs, as accounted by <see cref="RdpAccountant"/>.</summary>
    public double EpsilonBudget { get; set; }

    public bool Enabled => NoiseMultiplier > 0;

    /// <summary>Every problem with the settings; none when privacy is disabled.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!double.IsFinite(NoiseMultiplier) || NoiseMultiplier < 0) errors.Add(Invalid(nameof(NoiseMultiplier), NoiseMultiplier, "≥ 0 (0 disables privacy)"));
        if (!Enabled) return errors;
        if (!double.IsFinite(ClipNorm) || ClipNorm <= 0) errors.Add(Invalid(nameof(ClipNorm), ClipNorm, "> 0"));
        if (!double.IsFinite(Delta) || Delta is <= 0 or >= 1) errors.Add(Invalid(nameof(Delta), Delta, "in (0, 1)"));
        if (!double.IsFinite(EpsilonBudget) || EpsilonBudget <= 0) errors.Add(Invalid(nameof(EpsilonBudget), EpsilonBudget, "> 0"));
        return errors;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> listing every problem, if there is any.</summary>
    public PrivacyOptions EnsureValid()
    {
        var errors = Validate();
        return errors.Count == 0 ? this : throw new InvalidOperationException("invalid Station:Privacy settings: " + string.Join("; ", errors));
    }

    private static string Invalid(string name, double value, string rule) =>
        $"Station:Privacy:{name} must be {rule}, got {value.ToString(CultureInfo.InvariantCulture)}";
}
