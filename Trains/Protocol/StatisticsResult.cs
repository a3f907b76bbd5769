using System.Text.Json;

namespace HealthTrain.Trains.Protocol;

/// <summary>The file a statistics train writes: <c>/output/statistics.json</c>.</summary>
public sealed record StatisticsResult
{
    /// <summary>File name under <c>/output</c>.</summary>
    public const string FileName = "statistics.json";

    public Dictionary<string, StatisticValue> Statistics { get; init; } = [];

    /// <summary>
    /// Set by the station, never by the train: the minimum cell count it applied and how many cells it suppressed.
    /// Absent in results from stations that predate small-cell suppression.
    /// </summary>
    public StatisticsDisclosure? Disclosure { get; init; }
}

/// <summary>
/// The station's record of its small-cell suppression of one result: its policy's k (<c>Station:Disclosure:MinCellCount</c>;
/// 1 or less means off) and how many cells it withheld, primary (0 &lt; n &lt; k) and secondary together.
/// </summary>
public sealed record StatisticsDisclosure(int MinCellCount, int SuppressedCells);

/// <summary>
/// One station's value of a declared statistic. Which members are set depends on the kind:
/// count and sum use <see cref="Value"/> (or <see cref="Categories"/>); mean uses N and Mean;
/// variance uses N, Mean and M2 (sum of squared deviations from the mean); histogram uses
/// Counts, Underflow and Overflow. A cell the station suppressed is null and named in <see cref="Suppressed"/>.
/// </summary>
public sealed record StatisticValue
{
    public string Kind { get; init; } = "";
    public double? Value { get; init; }
    public Dictionary<string, double?>? Categories { get; init; }
    public long? N { get; init; }
    public double? Mean { get; init; }
    public double? M2 { get; init; }
    public long?[]? Counts { get; init; }
    public long? Underflow { get; init; }
    public long? Overflow { get; init; }

    /// <summary>
    /// The cells the station withheld (<see cref="SuppressedCells"/> names them), each null in this value. Absent when none was.
    /// </summary>
    public IReadOnlyList<string>? Suppressed { get; init; }
}

/// <summary>
/// Names of the cells of a statistic that small-cell suppression can withhold: <c>value</c> (a count), <c>categories.NAME</c>,
/// <c>counts[I]</c>, <c>underflow</c>, <c>overflow</c> (histogram), and <c>n</c> for a mean or variance, which withholds n
/// with its mean and M2.
/// </summary>
public static class SuppressedCells
{
    public const string Value = "value";
    public const string Moments = "n";
    public const string Underflow = "underflow";
    public const string Overflow = "overflow";

    public static string Category(string name) => "categories." + name;

    public static string Bin(int index) => $"counts[{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}]";

    /// <summary>Every cell of <paramref name="declaration"/> that may be named, in the order a table shows them.</summary>
    public static IReadOnlyList<string> Of(StatisticDeclaration declaration) => declaration.Kind switch
    {
        StatisticKinds.Count when declaration.Categories is { } categories => [.. categories.Select(Category)],
        StatisticKinds.Count => [Value],
        StatisticKinds.Mean or StatisticKinds.Variance => [Moments],
        StatisticKinds.Histogram => [Underflow, .. Enumerable.Range(0, declaration.Bins!.Count - 1).Select(Bin), Overflow],
        // A sum carries no record count, so no station can tell whether it covers fewer than k records: never suppressed.
        _ => [],
    };
}

/// <summary>Checks that a statistics result holds exactly the declared statistics, each well-formed.</summary>
public static class StatisticsResultValidator
{
    /// <summary>Parses the JSON of a statistics result and checks it against the manifest.</summary>
    public static (StatisticsResult? Result, IReadOnlyList<ValidationError> Errors) Parse(TrainManifest manifest, string json)
    {
        StatisticsResult? result;
        try
        {
            result = JsonSerializer.Deserialize<StatisticsResult>(json, ProtocolJson.Options);
        }
        catch (JsonException e)
        {
            return (null, [new(string.IsNullOrEmpty(e.Path) ? "$" : e.Path, "not valid statistics JSON: " + e.Message.Split(" Path:")[0])]);
        }
        if (result?.Statistics is null) return (null, [new("$.statistics", "is missing")]);
        var errors = Validate(manifest, result);
        return errors.Count == 0 ? (result, errors) : (null, errors);
    }

    /// <summary>Every way the result departs from the manifest's declared statistics.</summary>
    public static IReadOnlyList<ValidationError> Validate(TrainManifest manifest, StatisticsResult result)
    {
        var e = new List<ValidationError>();
        var declared = manifest.Outputs.Statistics.ToDictionary(s => s.Name);
        foreach (var name in result.Statistics.Keys.Where(n => !declared.ContainsKey(n)))
            e.Add(new($"$.statistics.{name}", "is not declared in the manifest"));
        var suppressed = 0;
        foreach (var d in manifest.Outputs.Statistics)
        {
            var path = $"$.statistics.{d.Name}";
            if (!result.Statistics.TryGetValue(d.Name, out var v) || v is null) { e.Add(new(path, "is declared but missing")); continue; }
            if (v.Kind != d.Kind) { e.Add(new(path + ".kind", $"is '{v.Kind}' but the manifest declares '{d.Kind}'")); continue; }
            var cells = SuppressedOf(d, v, path, e);
            suppressed += cells.Count;
            ValidateValue(d, v, path, cells, e);
        }
        if (result.Disclosure is { } disclosure)
        {
            if (disclosure.MinCellCount < 0) e.Add(new("$.disclosure.minCellCount", "must be 0 or more"));
            if (disclosure.SuppressedCells != suppressed)
                e.Add(new("$.disclosure.suppressedCells", $"is {disclosure.SuppressedCells}, but {suppressed} cells are marked suppressed"));
            else if (suppressed > 0 && disclosure.MinCellCount <= 1)
                e.Add(new("$.disclosure.minCellCount", $"is {disclosure.MinCellCount}, which suppresses nothing, yet {suppressed} cells are marked suppressed"));
        }
        else if (suppressed > 0) e.Add(new("$.disclosure", "is missing, but cells are marked suppressed"));
        return e;
    }

    /// <summary>The cells <paramref name="v"/> marks suppressed, each checked to be a cell of the declaration, named once.</summary>
    private static HashSet<string> SuppressedOf(StatisticDeclaration d, StatisticValue v, string path, List<ValidationError> e)
    {
        var cells = new HashSet<string>(StringComparer.Ordinal);
        if (v.Suppressed is null) return cells;
        if (v.Suppressed.Count == 0) e.Add(new(path + ".suppressed", "when given, must name at least one cell"));
        var allowed = SuppressedCells.Of(d);
        for (var i = 0; i < v.Suppressed.Count; i++)
        {
            var cell = v.Suppressed[i];
            if (!allowed.Contains(cell))
                e.Add(new($"{path}.suppressed[{i}]", allowed.Count == 0
                    ? $"'{cell}': a '{d.Kind}' statistic cannot be suppressed"
                    : $"'{cell}' is not a cell of this statistic (one of {string.Join(", ", allowed)})"));
            else if (!cells.Add(cell)) e.Add(new($"{path}.suppressed[{i}]", $"'{cell}' is named twice"));
        }
        return cells;
    }

    private static void ValidateValue(StatisticDeclaration d, StatisticValue v, string path, HashSet<string> suppressed, List<ValidationError> e)
    {
        // A suppressed cell is null, never a number: a withheld cell must not be readable as a value.
        void Withheld(string cell, string member, bool present)
        {
            if (present) e.Add(new($"{path}.{member}", $"must be null: it is marked suppressed ('{cell}')"));
        }
        void Unexpected(string member, bool present)
        {
            if (present) e.Add(new($"{path}.{member}", $"is not used by kind '{d.Kind}'"));
        }
        switch (d.Kind)
        {
            case StatisticKinds.Count or StatisticKinds.Sum:
                Unexpected("n", v.N is not null); Unexpected("mean", v.Mean is not null); Unexpected("m2", v.M2 is not null);
                Unexpected("counts", v.Counts is not null); Unexpected("underflow", v.Underflow is not null); Unexpected("overflow", v.Overflow is not null);
                var isCount = d.Kind == StatisticKinds.Count;
                if (d.Categories is null)
                {
                    Unexpected("categories", v.Categories is not null);
                    if (suppressed.Contains(SuppressedCells.Value)) Withheld(SuppressedCells.Value, "value", v.Value is not null);
                    else if (v.Value is not { } x) e.Add(new(path + ".value", "is missing"));
                    else CheckNumber(x, isCount, path + ".value", e);
                }
                else
                {
                    Unexpected("value", v.Value is not null);
                    if (v.Categories is null) { e.Add(new(path + ".categories", "is missing")); break; }
                    foreach (var c in v.Categories.Keys.Where(c => !d.Categories.Contains(c)))
                        e.Add(new($"{path}.categories.{c}", "is not a declared category"));
                    foreach (var c in d.Categories)
                        if (!v.Categories.TryGetValue(c, out var x)) e.Add(new($"{path}.categories.{c}", "is declared but missing"));
                        else if (suppressed.Contains(SuppressedCells.Category(c))) Withheld(SuppressedCells.Category(c), $"categories.{c}", x is not null);
                        else if (x is not { } number) e.Add(new($"{path}.categories.{c}", "is null but not marked suppressed"));
                        else CheckNumber(number, isCount, $"{path}.categories.{c}", e);
                }
                break;
            case StatisticKinds.Mean or StatisticKinds.Variance:
                Unexpected("value", v.Value is not null); Unexpected("categories", v.Categories is not null);
                Unexpected("counts", v.Counts is not null); Unexpected("underflow", v.Underflow is not null); Unexpected("overflow", v.Overflow is not null);
                if (d.Kind == StatisticKinds.Mean) Unexpected("m2", v.M2 is not null);
                if (suppressed.Contains(SuppressedCells.Moments))
                {
                    Withheld(SuppressedCells.Moments, "n", v.N is not null);
                    Withheld(SuppressedCells.Moments, "mean", v.Mean is not null);
                    Withheld(SuppressedCells.Moments, "m2", v.M2 is not null);
                    break;
                }
                if (v.N is not { } n || n < 0) { e.Add(new(path + ".n", "must be a count of 0 or more")); break; }
                if (n > 0 && v.Mean is not { } mean) e.Add(new(path + ".mean", "is missing"));
                else if (v.Mean is { } m && !double.IsFinite(m)) e.Add(new(path + ".mean", "must be a finite number"));
                if (n == 0 && v.Mean is not null) e.Add(new(path + ".mean", "must be absent when n is 0"));
                if (d.Kind == StatisticKinds.Variance)
                {
                    if (n > 0 && v.M2 is null) e.Add(new(path + ".m2", "is missing"));
                    else if (v.M2 is { } m2 && (!double.IsFinite(m2) || m2 < 0)) e.Add(new(path + ".m2", "must be a finite number of 0 or more"));
                    else if (n == 0 && v.M2 is not null) e.Add(new(path + ".m2", "must be absent when n is 0"));
                    else if (n == 1 && v.M2 is not 0.0) e.Add(new(path + ".m2", "must be 0 for a single value"));
                }
                break;
            case StatisticKinds.Histogram:
                Unexpected("value", v.Value is not null); Unexpected("categories", v.Categories is not null);
                Unexpected("n", v.N is not null); Unexpected("mean", v.Mean is not null); Unexpected("m2", v.M2 is not null);
                var bins = d.Bins!.Count - 1;
                if (v.Counts is null || v.Counts.Length != bins) e.Add(new(path + ".counts", $"must hold {bins} counts, one per bin"));
                else
                    for (var i = 0; i < bins; i++)
                        if (suppressed.Contains(SuppressedCells.Bin(i))) Withheld(SuppressedCells.Bin(i), $"counts[{i}]", v.Counts[i] is not null);
                        else if (v.Counts[i] is not { } count) e.Add(new($"{path}.counts[{i}]", "is null but not marked suppressed"));
                        else if (count < 0) e.Add(new($"{path}.counts[{i}]", "must not be negative"));
                // Underflow and overflow may be absent (none); suppressed, they are null too.
                if (suppressed.Contains(SuppressedCells.Underflow)) Withheld(SuppressedCells.Underflow, "underflow", v.Underflow is not null);
                else if (v.Underflow is < 0) e.Add(new(path + ".underflow", "must not be negative"));
                if (suppressed.Contains(SuppressedCells.Overflow)) Withheld(SuppressedCells.Overflow, "overflow", v.Overflow is not null);
                else if (v.Overflow is < 0) e.Add(new(path + ".overflow", "must not be negative"));
                break;
        }
    }

    private static void CheckNumber(double x, bool isCount, string path, List<ValidationError> e)
    {
        if (!double.IsFinite(x)) e.Add(new(path, "must be a finite number"));
        else if (isCount && (x < 0 || x != Math.Floor(x))) e.Add(new(path, "a count must be a whole number of 0 or more"));
    }
}
