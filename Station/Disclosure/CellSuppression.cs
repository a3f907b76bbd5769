using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Disclosure;

/// <summary>One cell a station withheld: which statistic, which cell (<see cref="SuppressedCells"/>), and why.</summary>
public sealed record SuppressedCell(string Statistic, string Cell, string Reason);

/// <summary>Why a cell was withheld.</summary>
public static class SuppressionReasons
{
    /// <summary>The cell holds 1 to k − 1 records (or a mean or variance is over so few).</summary>
    public const string Primary = "primary";

    /// <summary>The cell was the only other withheld in its group, so the first could not be recovered by subtraction from a total.</summary>
    public const string Secondary = "secondary";
}

/// <summary>
/// Small-cell suppression of one statistics result under a minimum cell count k. Primary: a count, category or histogram
/// cell (bins, underflow, overflow) with 0 &lt; n &lt; k, and a mean or variance over 0 &lt; n &lt; k records (n, mean and
/// M2 together). Secondary: the categories of one count, and the cells of one histogram, are a group whose total may be
/// published elsewhere (a patient count, say); when exactly one cell of a group is withheld, the smallest other non-zero cell
/// of the group (the first in declared order on a tie) is withheld too, so no subtraction from the total recovers it. Zero
/// cells are not disclosive: they stay, and are never chosen for secondary suppression, since withholding a known-empty cell
/// would protect nothing. A group whose only non-zero cell is small has a total under k, which is itself withheld wherever it
/// is a count. Sums carry no record count, so they cannot be checked: a station that suppresses refuses trains declaring them.
/// </summary>
public static class CellSuppression
{
    /// <summary>Why a train cannot run under minimum cell count <paramref name="k"/>, or null when it can.</summary>
    public static string? WhyRefused(TrainManifest manifest, int k)
    {
        if (k <= 1) return null;
        var sums = manifest.Outputs.Statistics.Where(s => s.Kind == StatisticKinds.Sum).Select(s => s.Name).ToList();
        return sums.Count == 0 ? null
            : $"this station withholds statistics over fewer than {k} records (Station:Disclosure:MinCellCount), and a sum carries no record count "
              + $"to check: {string.Join(", ", sums)}; declare a mean (n and mean) instead";
    }

    /// <summary>
    /// The result with every cell withheld under <paramref name="k"/> set to null and named in its statistic's
    /// <c>suppressed</c>, and <see cref="StatisticsResult.Disclosure"/> recording k and how many cells; with the cells withheld.
    /// The result must already be valid for the manifest, with nothing suppressed by anyone else.
    /// </summary>
    public static (StatisticsResult Result, IReadOnlyList<SuppressedCell> Cells) Apply(TrainManifest manifest, StatisticsResult result, int k)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(result);
        if (result.Disclosure is not null || result.Statistics.Values.Any(v => v.Suppressed is not null))
            throw new ArgumentException("the result is already suppressed", nameof(result));
        if (WhyRefused(manifest, k) is { } refusal) throw new InvalidOperationException(refusal);
        var cells = new List<SuppressedCell>();
        var statistics = new Dictionary<string, StatisticValue>(result.Statistics.Count);
        foreach (var declaration in manifest.Outputs.Statistics)
        {
            var value = result.Statistics[declaration.Name];
            var order = SuppressedCells.Of(declaration).ToList();
            var withheld = (k > 1 ? Withhold(declaration, value, k) : []).OrderBy(w => order.IndexOf(w.Cell)).ToList();
            cells.AddRange(withheld.Select(w => new SuppressedCell(declaration.Name, w.Cell, w.Reason)));
            statistics[declaration.Name] = withheld.Count == 0 ? value : Without(value, [.. withheld.Select(w => w.Cell)]);
        }
        return (new StatisticsResult { Statistics = statistics, Disclosure = new StatisticsDisclosure(k, cells.Count) }, cells);
    }

    private static List<(string Cell, string Reason)> Withhold(StatisticDeclaration declaration, StatisticValue value, int k)
    {
        bool Small(double n) => n > 0 && n < k;
        switch (declaration.Kind)
        {
            case StatisticKinds.Count when declaration.Categories is { } categories:
                return Group([.. categories.Select(c => (SuppressedCells.Category(c), value.Categories![c]!.Value))], Small);
            case StatisticKinds.Count:
                return Small(value.Value!.Value) ? [(SuppressedCells.Value, SuppressionReasons.Primary)] : [];
            case StatisticKinds.Mean or StatisticKinds.Variance:
                return Small(value.N!.Value) ? [(SuppressedCells.Moments, SuppressionReasons.Primary)] : [];
            case StatisticKinds.Histogram:
                var group = new List<(string, double)>();
                if (value.Underflow is { } under) group.Add((SuppressedCells.Underflow, under));
                group.AddRange(value.Counts!.Select((c, i) => (SuppressedCells.Bin(i), (double)c!.Value)));
                if (value.Overflow is { } over) group.Add((SuppressedCells.Overflow, over));
                return Group(group, Small);
            default:
                return [];
        }
    }

    /// <summary>Primary suppression in a group of cells, then secondary when exactly one cell was withheld.</summary>
    private static List<(string Cell, string Reason)> Group(IReadOnlyList<(string Cell, double N)> group, Func<double, bool> small)
    {
        var withheld = group.Where(g => small(g.N)).Select(g => (g.Cell, SuppressionReasons.Primary)).ToList();
        if (withheld.Count != 1) return withheld;
        var next = group.Where(g => g.N > 0 && g.Cell != withheld[0].Cell)
            .Select((g, order) => (g.Cell, g.N, order))
            .OrderBy(g => g.N).ThenBy(g => g.order)
            .FirstOrDefault();
        if (next.Cell is not null) withheld.Add((next.Cell, SuppressionReasons.Secondary));
        return withheld;
    }

    private static StatisticValue Without(StatisticValue value, IReadOnlyList<string> cells)
    {
        var set = cells.ToHashSet(StringComparer.Ordinal);
        return value with
        {
            Value = set.Contains(SuppressedCells.Value) ? null : value.Value,
            Categories = value.Categories?.ToDictionary(c => c.Key, c => set.Contains(SuppressedCells.Category(c.Key)) ? null : c.Value),
            N = set.Contains(SuppressedCells.Moments) ? null : value.N,
            Mean = set.Contains(SuppressedCells.Moments) ? null : value.Mean,
            M2 = set.Contains(SuppressedCells.Moments) ? null : value.M2,
            Counts = value.Counts?.Select((c, i) => set.Contains(SuppressedCells.Bin(i)) ? null : c).ToArray(),
            Underflow = set.Contains(SuppressedCells.Underflow) ? null : value.Underflow,
            Overflow = set.Contains(SuppressedCells.Overflow) ? null : value.Overflow,
            // In the declared order of the cells, so the same data always gives the same result bytes.
            Suppressed = [.. cells],
        };
    }
}
