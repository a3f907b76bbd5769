using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Merging;

/// <summary>Pooling results in which stations withheld small cells: lower bounds and partial moments, each said as such.</summary>
public sealed class StatisticsPoolingSuppressionTests
{
    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"t","version":"1","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[
           {"name":"patients","kind":"count"},
           {"name":"by_sex","kind":"count","categories":["f","m","o"]},
           {"name":"age","kind":"histogram","bins":[0,10,20,30]},
           {"name":"bmi","kind":"variance"},
           {"name":"weight","kind":"mean"}]}}
        """);

    // A large station that withheld nothing (and records k = 5).
    private const string Large = """
        {"statistics":{
          "patients":{"kind":"count","value":100},
          "by_sex":{"kind":"count","categories":{"f":50,"m":44,"o":6}},
          "age":{"kind":"histogram","counts":[20,30,50],"underflow":0,"overflow":0},
          "bmi":{"kind":"variance","n":100,"mean":25,"m2":396},
          "weight":{"kind":"mean","n":100,"mean":70}},
         "disclosure":{"minCellCount":5,"suppressedCells":0}}
        """;

    // A small station: 3 patients (f 2, m 1), all aged 10–20, two BMI values, one weight.
    private const string Small = """
        {"statistics":{
          "patients":{"kind":"count","value":null,"suppressed":["value"]},
          "by_sex":{"kind":"count","categories":{"f":null,"m":null,"o":0},"suppressed":["categories.f","categories.m"]},
          "age":{"kind":"histogram","counts":[0,null,0],"underflow":0,"overflow":0,"suppressed":["counts[1]"]},
          "bmi":{"kind":"variance","suppressed":["n"]},
          "weight":{"kind":"mean","suppressed":["n"]}},
         "disclosure":{"minCellCount":5,"suppressedCells":6}}
        """;

    // A station from before suppression: no record, every cell exact.
    private const string Old = """
        {"statistics":{
          "patients":{"kind":"count","value":10},
          "by_sex":{"kind":"count","categories":{"f":5,"m":5,"o":0}},
          "age":{"kind":"histogram","counts":[1,2,7],"underflow":0,"overflow":0},
          "bmi":{"kind":"variance","n":10,"mean":27,"m2":36},
          "weight":{"kind":"mean","n":10,"mean":80}}}
        """;

    private static StatisticsResult Parse(string json)
    {
        var (result, errors) = StatisticsResultValidator.Parse(Manifest, json);
        Assert.Empty(errors);
        return result!;
    }

    private static PooledStatistics Pool(params (string Station, string Json)[] results) =>
        StatisticsPooling.Pool(Manifest, [.. results.Select(r => (r.Station, Parse(r.Json)))]);

    [Fact]
    public void A_withheld_count_makes_the_pooled_cell_a_lower_bound_named_with_its_stations()
    {
        var pooled = Pool(("large", Large), ("old", Old), ("small", Small));
        var s = pooled.Statistics.ToDictionary(p => p.Name);

        // 100 + 10 exact, plus at least one behind the withheld count.
        Assert.Equal(111, s["patients"].Value);
        Assert.Equal(new Dictionary<string, int> { ["value"] = 1 }, s["patients"].Suppressed);
        Assert.Equal(3, s["patients"].Stations);
        Assert.Equal(new Dictionary<string, double> { ["f"] = 56, ["m"] = 50, ["o"] = 6 }, s["by_sex"].Categories);
        Assert.Equal(new Dictionary<string, int> { ["categories.f"] = 1, ["categories.m"] = 1 }, s["by_sex"].Suppressed);
        Assert.Equal([21L, 33, 57], s["age"].Counts!);
        Assert.Equal((0L, 0L), (s["age"].Underflow!.Value, s["age"].Overflow!.Value));
        Assert.Equal(new Dictionary<string, int> { ["counts[1]"] = 1 }, s["age"].Suppressed);
    }

    [Fact]
    public void Means_and_variances_are_pooled_over_the_stations_that_released_them_and_say_so()
    {
        var pooled = Pool(("large", Large), ("old", Old), ("small", Small));
        var bmi = pooled.Statistics.Single(p => p.Name == "bmi");
        var weight = pooled.Statistics.Single(p => p.Name == "weight");

        // large and old only: n 110; mean (100·25 + 10·27) / 110; M2 396 + 36 + (27 − 25)²·100·10/110.
        Assert.Equal((2, 110L), (bmi.Stations, bmi.N!.Value));
        Assert.Equal(2770.0 / 110, bmi.Mean!.Value, 12);
        Assert.Equal(396 + 36 + 4 * 1000.0 / 110, bmi.M2!.Value, 9);
        Assert.Equal(new Dictionary<string, int> { ["n"] = 1 }, bmi.Suppressed);
        Assert.Equal((2, 110L), (weight.Stations, weight.N!.Value));
        Assert.Equal(new Dictionary<string, int> { ["n"] = 1 }, weight.Suppressed);
    }

    [Fact]
    public void Stations_that_all_withheld_a_cell_leave_a_bound_of_their_count()
    {
        var pooled = Pool(("small-1", Small), ("small-2", Small));
        var s = pooled.Statistics.ToDictionary(p => p.Name);

        Assert.Equal(2, s["patients"].Value);
        Assert.Equal(2, s["patients"].Suppressed!["value"]);
        Assert.Equal((0, 0L, (double?)null), (s["bmi"].Stations, s["bmi"].N!.Value, s["bmi"].Mean));
        Assert.Equal(2, s["bmi"].Suppressed!["n"]);
    }

    [Fact]
    public void Each_station_s_k_and_cells_withheld_are_carried_and_unsuppressed_pools_stay_as_before()
    {
        var mixed = Pool(("large", Large), ("old", Old), ("small", Small));
        var exact = Pool(("old", Old));

        Assert.Equal([new StationSuppression("large", 5, 0), new StationSuppression("small", 5, 6)], mixed.Disclosure!);
        Assert.Null(exact.Disclosure);
        Assert.All(exact.Statistics, p => Assert.Null(p.Suppressed));
        Assert.Equal(10, exact.Statistics.Single(p => p.Name == "patients").Value);
    }
}
