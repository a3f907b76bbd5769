using System.Globalization;

namespace HealthTrain.Station.Disclosure;

/// <summary>
/// Station settings, section <c>Station:Disclosure</c>: small-cell suppression of the statistics this station releases.
/// On by default with k = 5; turning it off takes an explicit <c>MinCellCount</c> of 1 (or 0).
/// </summary>
public sealed class DisclosureOptions
{
    /// <summary>The default k: the usual minimum cell size of statistical disclosure control for health data.</summary>
    public const int DefaultMinCellCount = 5;

    /// <summary>
    /// k: a count cell, category or histogram bin holding 1 to k − 1 records is withheld, as is a mean or variance over
    /// 1 to k − 1 records. 1 or less turns suppression off.
    /// </summary>
    public int MinCellCount { get; set; } = DefaultMinCellCount;

    /// <summary>Whether anything can be suppressed.</summary>
    public bool Enabled => MinCellCount > 1;

    /// <summary>Every problem with the settings.</summary>
    public IReadOnlyList<string> Validate() => MinCellCount < 0
        ? [$"Station:Disclosure:MinCellCount must be 0 or more (1 or less turns small-cell suppression off), got {MinCellCount.ToString(CultureInfo.InvariantCulture)}"]
        : [];
}
