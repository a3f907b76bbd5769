using System.Globalization;
using System.Text;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Runs;

/// <summary>Renders a round's pooled statistics as a plain-text table for the terminal.</summary>
public static class PooledTable
{
    private static readonly string[] Header = ["statistic", "kind", "unit", "stations", "n", "value"];

    /// <summary>
    /// One row per statistic, then its categories or histogram bins on indented rows below it.
    /// Numbers are culture-invariant: counts as integers, means and variances with four decimals.
    /// A cell with suppressed contributions shows as a lower bound, <c>&gt;= x (suppressed at N stations)</c>; a mean or
    /// variance says how many stations withheld theirs; a line under the title gives each station's k and cells withheld.
    /// </summary>
    public static string Render(PooledStatistics pooled)
    {
        ArgumentNullException.ThrowIfNull(pooled);
        var rows = new List<string[]> { Header };
        foreach (var s in pooled.Statistics) AddRows(rows, s);

        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        text.Append("Pooled over ").Append(pooled.Stations.Count).Append(pooled.Stations.Count == 1 ? " station" : " stations");
        text.AppendLine(pooled.Stations.Count > 0 ? ": " + string.Join(", ", pooled.Stations) : "");
        if (pooled.Disclosure is { Count: > 0 } disclosure)
            text.Append("Small-cell suppression: ").AppendLine(string.Join("; ", disclosure.Select(d => d.MinCellCount <= 1
                ? $"{d.Station} off (k = {d.MinCellCount})"
                : $"{d.Station} k = {d.MinCellCount}, {(d.SuppressedCells == 0 ? "none" : d.SuppressedCells.ToString(CultureInfo.InvariantCulture))} withheld")));
        foreach (var row in rows)
        {
            var line = string.Join("  ", row.Select((cell, c) => c is 3 or 4 ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c])));
            text.AppendLine(line.TrimEnd());
        }
        return text.ToString();
    }

    private static void AddRows(List<string[]> rows, PooledStatistic s)
    {
        string[] Row(string n, string value) => [s.Name, s.Kind, s.Unit ?? "", s.Stations.ToString(CultureInfo.InvariantCulture), n, value];
        string[] Detail(string label, string value) => ["  " + label, "", "", "", "", value];
        var suppressed = s.Suppressed ?? [];
        // A cell some station withheld is only known from below.
        string Cell(string cell, string value) => suppressed.TryGetValue(cell, out var at) ? $">= {value} ({Withheld(at)})" : value;
        string Total(string value) => suppressed.Count > 0 ? ">= " + value : value;

        switch (s.Kind)
        {
            case StatisticKinds.Count or StatisticKinds.Sum when s.Categories is { } categories:
                var format = s.Kind == StatisticKinds.Count ? (Func<double, string>)Integer : Number;
                rows.Add(Row("", Total(format(categories.Values.Sum()))));
                rows.AddRange(categories.Select(c => Detail(c.Key, Cell(SuppressedCells.Category(c.Key), format(c.Value)))));
                break;
            case StatisticKinds.Count:
                rows.Add(Row("", s.Value is { } count ? Cell(SuppressedCells.Value, Integer(count)) : "-"));
                break;
            case StatisticKinds.Sum:
                rows.Add(Row("", s.Value is { } sum ? Number(sum) : "-"));
                break;
            case StatisticKinds.Mean:
                rows.Add(Row(Count(s.N), (s.Mean is { } mean ? Decimal(mean) : "-") + Moments()));
                break;
            case StatisticKinds.Variance:
                rows.Add(Row(Count(s.N), (s.Mean is not { } m ? "-"
                    : $"mean {Decimal(m)}  variance {(s.Variance is { } v ? Decimal(v) : "-")}  sd {(s.Variance is { } w ? Decimal(Math.Sqrt(w)) : "-")}") + Moments()));
                break;
            case StatisticKinds.Histogram:
                var counts = s.Counts ?? [];
                var bins = s.Bins ?? [];
                rows.Add(Row(Total(Count(counts.Sum() + (s.Underflow ?? 0) + (s.Overflow ?? 0))), ""));
                if ((s.Underflow is > 0 || suppressed.ContainsKey(SuppressedCells.Underflow)) && bins.Count > 0)
                    rows.Add(Detail($"< {Edge(bins[0])}", Cell(SuppressedCells.Underflow, Count(s.Underflow))));
                for (var i = 0; i < counts.Length && i + 1 < bins.Count; i++)
                    rows.Add(Detail($"[{Edge(bins[i])}, {Edge(bins[i + 1])})", Cell(SuppressedCells.Bin(i), Count(counts[i]))));
                if ((s.Overflow is > 0 || suppressed.ContainsKey(SuppressedCells.Overflow)) && bins.Count > 0)
                    rows.Add(Detail($">= {Edge(bins[^1])}", Cell(SuppressedCells.Overflow, Count(s.Overflow))));
                break;
            default:
                rows.Add(Row(Count(s.N), s.Value is { } x ? Number(x) : ""));
                break;
        }

        // A mean or variance is pooled only over the stations that released it; say how many withheld theirs.
        string Moments() => suppressed.TryGetValue(SuppressedCells.Moments, out var at)
            ? $"  (over the released part only; n < k {Withheld(at)})"
            : "";
    }

    private static string Withheld(int stations) => $"suppressed at {stations} {(stations == 1 ? "station" : "stations")}";

    private static string Count(long? n) => n?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string Integer(double x) => x.ToString("0", CultureInfo.InvariantCulture);

    private static string Edge(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Whole sums as integers, the rest like a mean.</summary>
    private static string Number(double x) => x == Math.Floor(x) && Math.Abs(x) < 1e15 ? Integer(x) : Decimal(x);

    /// <summary>Four decimals; scientific notation where four decimals would hide the value or bury it in digits.</summary>
    private static string Decimal(double x) =>
        x != 0 && (Math.Abs(x) < 1e-3 || Math.Abs(x) >= 1e12)
            ? x.ToString("0.0000E+0", CultureInfo.InvariantCulture)
            : x.ToString("0.0000", CultureInfo.InvariantCulture);
}
