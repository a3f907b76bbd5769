using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Release;

/// <summary>
/// Release settings, section <c>Station:Release</c>: by default every checked result goes to the hub at once; kinds
/// listed in <see cref="Manual"/> (e.g. <c>--Station:Release:Manual:0=training</c>) wait in the outbox until the
/// station's operator releases or withholds them.
/// </summary>
public sealed class ReleaseOptions
{
    /// <summary>Train kinds (<c>statistics</c>, <c>training</c>) whose results need the operator's release.</summary>
    public List<string> Manual { get; set; } = [];

    /// <summary>How long a held result waits for a decision before its job fails.</summary>
    public double WaitHours { get; set; } = 72;

    /// <summary>True when results of trains of <paramref name="kind"/> wait for the operator.</summary>
    public bool IsManual(string kind) => Manual.Contains(kind, StringComparer.Ordinal);

    /// <summary>What is wrong with the settings (empty: nothing).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        foreach (var kind in Manual.Where(k => k is not (TrainKinds.Statistics or TrainKinds.Training)))
            problems.Add($"Station:Release:Manual: '{kind}' is not a train kind; use {TrainKinds.Statistics} or {TrainKinds.Training}");
        if (!double.IsFinite(WaitHours) || WaitHours <= 0)
            problems.Add($"Station:Release:WaitHours must be a positive number of hours, not {WaitHours}");
        return problems;
    }
}
