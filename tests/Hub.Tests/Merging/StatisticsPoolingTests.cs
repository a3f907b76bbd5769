using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Merging;

public sealed class StatisticsPoolingTests
{
    private static readonly string[] Groups = ["a", "b", "c"];
    private static readonly double[] Edges = [40, 60, 80, 100, 120, 140, 160];

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {
          "format": 1, "name": "pooling-test", "version": "1", "authors": ["test"], "kind": "statistics",
          "inputs": [{ "kind": "fhir-resources", "resourceType": "Observation" }],
          "outputs": { "statistics": [
            { "name": "records", "kind": "count", "description": "Records." },
            { "name": "records_by_group", "kind": "count", "categories": ["a", "b", "c"] },
            { "name": "dose", "kind": "sum", "unit": "mg" },
            { "name": "dose_by_group", "kind": "sum", "unit": "mg", "categories": ["a", "b", "c"] },
            { "name": "value_mean", "kind": "mean", "unit": "mmol/L" },
            { "name": "value", "kind": "variance", "unit": "mmol/L", "description": "The value." },
            { "name": "value_histogram", "kind": "histogram", "unit": "mmol/L", "bins": [40, 60, 80, 100, 120, 140, 160] }
          ] },
          "resources": { "cpus": 1, "memoryMb": 64, "timeoutSeconds": 60 }
        }
        """);

    private sealed record Row(string Group, double Value, double Dose);

    [Fact]
    public void Pooling_three_unlike_partitions_equals_computing_over_the_whole()
    {
        var rows = RandomRows(3_000, seed: 42);
        // Partitioned by group, so the stations' means differ a lot and the between-station term of M2 matters.
        var stations = Groups.Select(g => (Station: "station-" + g, Rows: rows.Where(r => r.Group == g).ToList())).ToList();
        Assert.All(stations, s => Assert.NotEmpty(s.Rows));

        var pooled = StatisticsPooling.Pool(Manifest, [.. stations.Select(s => (s.Station, Describe(s.Rows)))]);

        Assert.Equal(["station-a", "station-b", "station-c"], pooled.Stations);
        AssertEqualsWhole(Describe(rows), pooled, expectedStations: 3);
    }

    [Fact]
    public void Pooling_random_partitions_in_any_order_equals_computing_over_the_whole()
    {
        var rows = RandomRows(5_000, seed: 7);
        var random = new Random(8);
        var parts = rows.GroupBy(_ => random.Next(10) switch { 0 => 0, < 4 => 1, _ => 2 }).OrderBy(g => g.Key).Select(g => g.ToList()).ToList();
        Assert.Equal(3, parts.Count);

        var forward = StatisticsPooling.Pool(Manifest, [.. parts.Select((p, i) => ($"s{i}", Describe(p)))]);
        var backward = StatisticsPooling.Pool(Manifest, [.. parts.Select((p, i) => ($"s{i}", Describe(p))).Reverse()]);

        AssertEqualsWhole(Describe(rows), forward, expectedStations: 3);
        AssertEqualsWhole(Describe(rows), backward, expectedStations: 3);
    }

    [Fact]
    public void An_empty_station_adds_nothing_and_does_not_count_for_means()
    {
        var rows = RandomRows(500, seed: 3);
        var (first, second) = (rows.Take(200).ToList(), rows.Skip(200).ToList());

        var pooled = StatisticsPooling.Pool(Manifest, [("empty", Describe([])), ("first", Describe(first)), ("also-empty", Describe([])), ("second", Describe(second))]);

        AssertEqualsWhole(Describe(rows), pooled, expectedStations: 4, expectedMomentStations: 2);
    }

    [Fact]
    public void Only_empty_stations_pool_to_zero_counts_and_no_moments()
    {
        var pooled = StatisticsPooling.Pool(Manifest, [("x", Describe([])), ("y", Describe([]))]);

        var byName = pooled.Statistics.ToDictionary(s => s.Name);
        Assert.Equal(0, byName["records"].Value);
        Assert.Equal([0.0, 0, 0], byName["records_by_group"].Categories!.Values);
        Assert.Equal(new long[6], byName["value_histogram"].Counts);
        var value = byName["value"];
        Assert.Equal((0L, 0), (value.N, value.Stations));
        Assert.Null(value.Mean);
        Assert.Null(value.M2);
        Assert.Null(value.Variance);
    }

    [Fact]
    public void Single_value_stations_pool_to_the_variance_of_their_values()
    {
        double[] values = [101.5, 87.25, 140];
        var pooled = StatisticsPooling.Pool(Manifest, [.. values.Select((x, i) => ($"s{i}", Describe([new Row("a", x, 1)])))]);

        var value = pooled.Statistics.Single(s => s.Name == "value");
        var mean = values.Average();
        var m2 = values.Sum(x => (x - mean) * (x - mean));
        Assert.Equal((3L, 3), (value.N, value.Stations));
        AssertRelative(mean, value.Mean!.Value);
        AssertRelative(m2, value.M2!.Value);
        AssertRelative(m2 / 2, value.Variance!.Value);
    }

    [Fact]
    public void A_lone_value_has_a_mean_but_no_variance()
    {
        var pooled = StatisticsPooling.Pool(Manifest, [("only", Describe([new Row("b", 0.1, 2)])), ("none", Describe([]))]);

        var value = pooled.Statistics.Single(s => s.Name == "value");
        Assert.Equal((1L, 1), (value.N, value.Stations));
        Assert.Equal(0.1, value.Mean); // exactly: a single contribution is not rescaled
        Assert.Equal(0.0, value.M2);
        Assert.Null(value.Variance);
        var mean = pooled.Statistics.Single(s => s.Name == "value_mean");
        Assert.Equal((1L, 0.1), (mean.N!.Value, mean.Mean!.Value));
        Assert.Null(mean.M2);
        Assert.Null(mean.Variance);
    }

    [Fact]
    public void Underflow_and_overflow_are_summed_too()
    {
        var low = Describe([new Row("a", 10, 1), new Row("a", 50, 1)]);
        var high = Describe([new Row("c", 500, 1), new Row("c", 160, 1), new Row("c", 159.9, 1)]);

        var histogram = StatisticsPooling.Pool(Manifest, [("low", low), ("high", high)]).Statistics.Single(s => s.Name == "value_histogram");

        Assert.Equal((1L, 2L), (histogram.Underflow!.Value, histogram.Overflow!.Value));
        Assert.Equal([1L, 0, 0, 0, 0, 1], histogram.Counts!);
        Assert.Equal(Edges, histogram.Bins);
    }

    [Fact]
    public void A_result_that_does_not_fit_the_manifest_is_refused_naming_its_station()
    {
        var good = Describe(RandomRows(10, seed: 1));
        var bad = good with { Statistics = new(good.Statistics) { ["records"] = new StatisticValue { Kind = "count", Value = 2.5 } } };

        var error = Assert.Throws<ProtocolValidationException>(() => StatisticsPooling.Pool(Manifest, [("good", good), ("leipzig", bad)]));

        Assert.Contains("leipzig", error.Message);
        Assert.Equal("$.statistics.records.value", Assert.Single(error.Errors).Path);
    }

    [Fact]
    public void Two_results_from_one_station_are_refused()
    {
        var result = Describe(RandomRows(10, seed: 1));

        Assert.Throws<ArgumentException>(() => StatisticsPooling.Pool(Manifest, [("same", result), ("same", result)]));
        Assert.Throws<ArgumentException>(() => StatisticsPooling.Pool(Manifest, [("", result)]));
    }

    private static void AssertEqualsWhole(StatisticsResult whole, PooledStatistics pooled, int expectedStations, int? expectedMomentStations = null)
    {
        Assert.Equal(Manifest.Outputs.Statistics.Select(d => (d.Name, d.Kind, d.Unit, d.Description)), pooled.Statistics.Select(p => (p.Name, p.Kind, p.Unit, p.Description)));
        foreach (var p in pooled.Statistics)
        {
            var w = whole.Statistics[p.Name];
            var isMoment = p.Kind is StatisticKinds.Mean or StatisticKinds.Variance;
            Assert.Equal(isMoment ? expectedMomentStations ?? expectedStations : expectedStations, p.Stations);
            switch (p.Kind)
            {
                case StatisticKinds.Count:
                    Assert.Equal(w.Value, p.Value);
                    Assert.Equal(w.Categories?.ToDictionary(c => c.Key, c => c.Value!.Value), p.Categories);
                    break;
                case StatisticKinds.Sum when w.Categories is not null:
                    Assert.Equal(w.Categories.Keys, p.Categories!.Keys);
                    foreach (var (category, total) in w.Categories) AssertRelative(total!.Value, p.Categories[category]);
                    break;
                case StatisticKinds.Sum:
                    AssertRelative(w.Value!.Value, p.Value!.Value);
                    break;
                case StatisticKinds.Mean or StatisticKinds.Variance:
                    Assert.Equal(w.N, p.N);
                    AssertRelative(w.Mean!.Value, p.Mean!.Value);
                    if (p.Kind == StatisticKinds.Mean) break;
                    AssertRelative(w.M2!.Value, p.M2!.Value);
                    AssertRelative(w.M2.Value / (w.N!.Value - 1), p.Variance!.Value);
                    break;
                case StatisticKinds.Histogram:
                    Assert.Equal(w.Counts!.Select(c => c!.Value), p.Counts!);
                    Assert.Equal((w.Underflow, w.Overflow), (p.Underflow, p.Overflow));
                    break;
                default:
                    Assert.Fail($"unexpected kind {p.Kind}");
                    break;
            }
        }
    }

    /// <summary>What a station would report, computed the plain two-pass way, independent of the train SDK.</summary>
    private static StatisticsResult Describe(IReadOnlyList<Row> rows)
    {
        var n = rows.Count;
        var mean = n > 0 ? rows.Sum(r => r.Value) / n : (double?)null;
        var m2 = mean is { } m ? rows.Sum(r => (r.Value - m) * (r.Value - m)) : (double?)null;
        var counts = new long[Edges.Length - 1];
        long underflow = 0, overflow = 0;
        foreach (var r in rows)
        {
            if (r.Value < Edges[0]) underflow++;
            else if (r.Value >= Edges[^1]) overflow++;
            else counts[Enumerable.Range(0, counts.Length).Single(i => r.Value >= Edges[i] && r.Value < Edges[i + 1])]++;
        }
        return new StatisticsResult
        {
            Statistics = new()
            {
                ["records"] = new() { Kind = "count", Value = n },
                ["records_by_group"] = new() { Kind = "count", Categories = Groups.ToDictionary(g => g, g => (double?)rows.Count(r => r.Group == g)) },
                ["dose"] = new() { Kind = "sum", Value = rows.Sum(r => r.Dose) },
                ["dose_by_group"] = new() { Kind = "sum", Categories = Groups.ToDictionary(g => g, g => (double?)rows.Where(r => r.Group == g).Sum(r => r.Dose)) },
                ["value_mean"] = new() { Kind = "mean", N = n, Mean = mean },
                ["value"] = new() { Kind = "variance", N = n, Mean = mean, M2 = m2 },
                ["value_histogram"] = new() { Kind = "histogram", Counts = [.. counts.Select(c => (long?)c)], Underflow = underflow, Overflow = overflow },
            },
        };
    }

    /// <summary>Rows whose value distribution depends on the group: a ~ N(100, 15), b ~ N(60, 5), c ~ N(130, 30).</summary>
    private static List<Row> RandomRows(int count, int seed)
    {
        var random = new Random(seed);
        double Normal(double mean, double sd) => mean + sd * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var group = Groups[random.Next(10) switch { < 5 => 0, < 7 => 1, _ => 2 }];
            var value = group switch { "a" => Normal(100, 15), "b" => Normal(60, 5), _ => Normal(130, 30) };
            return new Row(group, value, Math.Round(random.NextDouble() * 50, 2));
        })];
    }

    private static void AssertRelative(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-12 * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");
}
