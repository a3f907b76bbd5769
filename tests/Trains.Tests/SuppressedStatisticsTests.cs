using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests;

/// <summary>The protocol's marking of cells a station withheld: explicit nulls named in <c>suppressed</c>, with the station's record.</summary>
public sealed class SuppressedStatisticsTests
{
    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"t","version":"1","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[
           {"name":"patients","kind":"count"},
           {"name":"by_sex","kind":"count","categories":["f","m","x"]},
           {"name":"age","kind":"histogram","bins":[0,10,20,30]},
           {"name":"bmi","kind":"variance"},
           {"name":"weight","kind":"mean"},
           {"name":"dose","kind":"sum"}]}}
        """);

    private const string Suppressed = """
        {"statistics":{
          "patients":{"kind":"count","value":null,"suppressed":["value"]},
          "by_sex":{"kind":"count","categories":{"f":null,"m":null,"x":0},"suppressed":["categories.f","categories.m"]},
          "age":{"kind":"histogram","counts":[12,null,0],"underflow":0,"overflow":null,"suppressed":["counts[1]","overflow"]},
          "bmi":{"kind":"variance","suppressed":["n"]},
          "weight":{"kind":"mean","n":0},
          "dose":{"kind":"sum","value":2.5}},
         "disclosure":{"minCellCount":5,"suppressedCells":6}}
        """;

    [Fact]
    public void A_suppressed_result_parses_with_its_cells_null_and_named()
    {
        var (result, errors) = StatisticsResultValidator.Parse(Manifest, Suppressed);

        Assert.Empty(errors);
        Assert.Null(result!.Statistics["patients"].Value);
        Assert.Equal(new long?[] { 12, null, 0 }, result.Statistics["age"].Counts!);
        Assert.Null(result.Statistics["by_sex"].Categories!["f"]);
        Assert.Equal(0, result.Statistics["by_sex"].Categories!["x"]);
        Assert.Equal(["counts[1]", "overflow"], result.Statistics["age"].Suppressed!);
        Assert.Equal(new StatisticsDisclosure(5, 6), result.Disclosure);
    }

    [Fact]
    public void A_suppressed_result_round_trips_with_explicit_nulls()
    {
        var (result, _) = StatisticsResultValidator.Parse(Manifest, Suppressed);

        var json = JsonSerializer.Serialize(result, ProtocolJson.Options);
        var again = StatisticsResultValidator.Parse(Manifest, json);

        Assert.Empty(again.Errors);
        Assert.Equal(json, JsonSerializer.Serialize(again.Result, ProtocolJson.Options));
        // Withheld cells inside arrays and category maps are written as null, never as 0 and never left out.
        var node = JsonNode.Parse(json)!;
        Assert.Equal("[12,null,0]", node["statistics"]!["age"]!["counts"]!.ToJsonString());
        Assert.True(node["statistics"]!["by_sex"]!["categories"]!.AsObject().ContainsKey("f"));
        Assert.Null(node["statistics"]!["by_sex"]!["categories"]!["f"]);
        Assert.Equal("""{"minCellCount":5,"suppressedCells":6}""", node["disclosure"]!.ToJsonString());
    }

    [Fact]
    public void A_result_from_before_suppression_stays_valid()
    {
        const string old = """
            {"statistics":{"patients":{"kind":"count","value":3},"by_sex":{"kind":"count","categories":{"f":2,"m":1,"x":0}},
             "age":{"kind":"histogram","counts":[1,2,0],"underflow":0,"overflow":0},"bmi":{"kind":"variance","n":2,"mean":20,"m2":2},
             "weight":{"kind":"mean","n":0},"dose":{"kind":"sum","value":2.5}}}
            """;

        var (result, errors) = StatisticsResultValidator.Parse(Manifest, old);

        Assert.Empty(errors);
        Assert.Null(result!.Disclosure);
        Assert.All(result.Statistics.Values, v => Assert.Null(v.Suppressed));
    }

    [Theory]
    // A null that is not marked suppressed is a missing value, not a withheld one.
    [InlineData("statistics.age.counts", "[null, 5, 0]", "$.statistics.age.counts[0]")]
    [InlineData("statistics.by_sex.categories.x", "null", "$.statistics.by_sex.categories.x")]
    // A marked cell must not carry a number.
    [InlineData("statistics.patients.value", "3", "$.statistics.patients.value")]
    [InlineData("statistics.age.overflow", "2", "$.statistics.age.overflow")]
    [InlineData("statistics.bmi.n", "3", "$.statistics.bmi.n")]
    // Only cells of the statistic, each once; sums are never suppressed.
    [InlineData("statistics.patients.suppressed", """["n"]""", "$.statistics.patients.suppressed[0]")]
    [InlineData("statistics.by_sex.suppressed", """["categories.f","categories.m","categories.f"]""", "$.statistics.by_sex.suppressed[2]")]
    [InlineData("statistics.by_sex.suppressed", """["categories.f","categories.m","categories.q"]""", "$.statistics.by_sex.suppressed[2]")]
    [InlineData("statistics.age.suppressed", """["counts[1]","counts[3]","overflow"]""", "$.statistics.age.suppressed[1]")]
    [InlineData("statistics.dose.suppressed", """["value"]""", "$.statistics.dose.suppressed[0]")]
    // The station's record must agree with the marks.
    [InlineData("disclosure.suppressedCells", "5", "$.disclosure.suppressedCells")]
    [InlineData("disclosure.minCellCount", "1", "$.disclosure.minCellCount")]
    [InlineData("disclosure", null, "$.disclosure")]
    public void Malformed_suppression_reports_its_path(string field, string? json, string expectedPath)
    {
        var edited = JsonNode.Parse(Suppressed)!;
        var parts = field.Split('.');
        var parent = parts[..^1].Aggregate(edited, (node, part) => node[part]!).AsObject();
        if (json is null) parent.Remove(parts[^1]);
        else parent[parts[^1]] = JsonNode.Parse(json);

        var (result, errors) = StatisticsResultValidator.Parse(Manifest, edited.ToJsonString());

        Assert.Null(result);
        Assert.Contains(expectedPath, errors.Select(e => e.Path));
    }

    [Fact]
    public void Cells_are_named_in_table_order_and_sums_have_none()
    {
        var byName = Manifest.Outputs.Statistics.ToDictionary(s => s.Name);

        Assert.Equal(["value"], SuppressedCells.Of(byName["patients"]));
        Assert.Equal(["categories.f", "categories.m", "categories.x"], SuppressedCells.Of(byName["by_sex"]));
        Assert.Equal(["underflow", "counts[0]", "counts[1]", "counts[2]", "overflow"], SuppressedCells.Of(byName["age"]));
        Assert.Equal(["n"], SuppressedCells.Of(byName["bmi"]));
        Assert.Empty(SuppressedCells.Of(byName["dose"]));
    }
}
