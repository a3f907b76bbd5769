using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests;

public sealed class ManifestValidatorTests
{
    // Statistics by index: 0 patients (count), 1 age (histogram), 2 by_sex (count, categories), 3 bmi (variance), 4 dose (sum), 5 weight (mean).
    private const string ValidManifest = """
        {
          "format": 1,
          "name": "example-train",
          "version": "0.1.0",
          "description": "A manifest that uses every statistic kind.",
          "authors": ["Ada Lovelace"],
          "kind": "statistics",
          "inputs": [
            { "kind": "fhir-resources", "resourceType": "Patient" },
            { "kind": "fhir-resources", "resourceType": "Observation" }
          ],
          "outputs": {
            "statistics": [
              { "name": "patients", "kind": "count" },
              { "name": "age", "kind": "histogram", "unit": "years", "bins": [0, 10, 20, 30] },
              { "name": "by_sex", "kind": "count", "categories": ["f", "m"] },
              { "name": "bmi", "kind": "variance", "unit": "kg/m2" },
              { "name": "dose", "kind": "sum", "unit": "mg" },
              { "name": "weight", "kind": "mean", "unit": "kg" }
            ]
          },
          "parameters": [
            { "name": "reference_date", "type": "date", "default": "2026-01-01" },
            { "name": "threshold", "type": "number" }
          ],
          "resources": { "cpus": 1, "memoryMb": 512, "gpus": 0, "timeoutSeconds": 300 }
        }
        """;

    [Fact]
    public void A_valid_manifest_parses_with_no_errors()
    {
        var (manifest, errors) = ManifestValidator.Parse(ValidManifest);

        Assert.Empty(errors);
        Assert.NotNull(manifest);
        Assert.Equal("example-train", manifest.Name);
        Assert.Equal(6, manifest.Outputs.Statistics.Count);
        Assert.Equal([0.0, 10, 20, 30], manifest.Outputs.Statistics[1].Bins);
        Assert.Equal("2026-01-01", manifest.Parameters[0].Default!.Value.GetString());
        Assert.Equal("example-train", ManifestValidator.ParseOrThrow(ValidManifest).Name);
    }

    [Theory]
    [InlineData("format", "2", "$.format")]
    [InlineData("name", "\"Cohort Stats\"", "$.name")]
    [InlineData("name", "\"cohort--stats\"", "$.name")]
    [InlineData("version", "\"\"", "$.version")]
    [InlineData("version", "\"1.0 beta\"", "$.version")]
    [InlineData("authors", "[]", "$.authors")]
    [InlineData("authors", "[\"Ada\", \" \"]", "$.authors[1]")]
    [InlineData("kind", "\"analysis\"", "$.kind")]
    [InlineData("kind", "\"training\"", "$.outputs.tensors")]
    [InlineData("inputs", "[]", "$.inputs")]
    [InlineData("inputs[0]", "null", "$.inputs[0]")]
    [InlineData("inputs[0].kind", "\"csv\"", "$.inputs[0].kind")]
    [InlineData("inputs[1].resourceType", "\"observation\"", "$.inputs[1].resourceType")]
    [InlineData("inputs[1].resourceType", "\"Patient\"", "$.inputs[1].resourceType")]
    [InlineData("outputs.statistics", "[]", "$.outputs.statistics")]
    [InlineData("outputs.tensors", "[{ \"name\": \"w\", \"shape\": [2], \"dtype\": \"float32\" }]", "$.outputs.tensors")]
    [InlineData("outputs.statistics[0]", "null", "$.outputs.statistics[0]")]
    [InlineData("outputs.statistics[0].name", "\"Patients\"", "$.outputs.statistics[0].name")]
    [InlineData("outputs.statistics[2].name", "\"patients\"", "$.outputs.statistics[2].name")]
    [InlineData("outputs.statistics[0].kind", "\"median\"", "$.outputs.statistics[0].kind")]
    [InlineData("outputs.statistics[1].bins", "[0, 10, 10, 30]", "$.outputs.statistics[1].bins[2]")]
    [InlineData("outputs.statistics[1].bins", "[0, 10, 30, 20]", "$.outputs.statistics[1].bins[3]")]
    [InlineData("outputs.statistics[1].bins", "[0]", "$.outputs.statistics[1].bins")]
    [InlineData("outputs.statistics[1].bins", null, "$.outputs.statistics[1].bins")]
    [InlineData("outputs.statistics[0].bins", "[0, 1]", "$.outputs.statistics[0].bins")]
    [InlineData("outputs.statistics[3].categories", "[\"a\"]", "$.outputs.statistics[3].categories")]
    [InlineData("outputs.statistics[2].categories", "[]", "$.outputs.statistics[2].categories")]
    [InlineData("outputs.statistics[2].categories", "[\"f\", \"m\", \"f\"]", "$.outputs.statistics[2].categories[2]")]
    [InlineData("outputs.statistics[2].categories", "[\"f\", \"\"]", "$.outputs.statistics[2].categories[1]")]
    [InlineData("parameters[0]", "null", "$.parameters[0]")]
    [InlineData("parameters[0].name", "\"Reference Date\"", "$.parameters[0].name")]
    [InlineData("parameters[1].name", "\"reference_date\"", "$.parameters[1].name")]
    [InlineData("parameters[0].type", "\"datetime\"", "$.parameters[0].type")]
    [InlineData("parameters[0].default", "\"01/01/2026\"", "$.parameters[0].default")]
    [InlineData("parameters[1].default", "\"high\"", "$.parameters[1].default")]
    [InlineData("resources", "null", "$.resources")]
    [InlineData("resources.cpus", "0", "$.resources.cpus")]
    [InlineData("resources.cpus", "257", "$.resources.cpus")]
    [InlineData("resources.memoryMb", "8", "$.resources.memoryMb")]
    [InlineData("resources.gpus", "17", "$.resources.gpus")]
    [InlineData("resources.gpus", "-1", "$.resources.gpus")]
    [InlineData("resources.timeoutSeconds", "0", "$.resources.timeoutSeconds")]
    [InlineData("resources.timeoutSeconds", "604801", "$.resources.timeoutSeconds")]
    public void Each_rule_reports_its_field_path(string field, string? json, string expectedPath)
    {
        var (manifest, errors) = ManifestValidator.Parse(With(ValidManifest, (field, json)));

        Assert.Null(manifest);
        var error = Assert.Single(errors);
        Assert.Equal(expectedPath, error.Path);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Theory]
    [InlineData("outputs.tensors[0].shape", "[]", "$.outputs.tensors[0].shape")]
    [InlineData("outputs.tensors[0].shape", "[3, 0]", "$.outputs.tensors[0].shape[1]")]
    [InlineData("outputs.tensors[0].dtype", "\"double\"", "$.outputs.tensors[0].dtype")]
    [InlineData("outputs.tensors[0].name", "\"bmi\"", "$.outputs.tensors[0].name")]
    [InlineData("outputs.tensors[0]", "null", "$.outputs.tensors[0]")]
    public void Tensor_rules_report_their_field_path(string field, string json, string expectedPath)
    {
        var training = With(ValidManifest,
            ("kind", "\"training\""),
            ("outputs.tensors", "[{ \"name\": \"weights\", \"shape\": [3, 4], \"dtype\": \"float32\" }]"));
        Assert.Empty(ManifestValidator.Parse(training).Errors);

        var (manifest, errors) = ManifestValidator.Parse(With(training, (field, json)));

        Assert.Null(manifest);
        Assert.Equal(expectedPath, Assert.Single(errors).Path);
    }

    [Fact]
    public void Every_error_is_reported_not_just_the_first()
    {
        var json = With(ValidManifest, ("name", "\"X\""), ("resources.cpus", "0"), ("outputs.statistics[1].bins", "[0, 10, 5]"));

        var errors = ManifestValidator.Parse(json).Errors;

        Assert.Equal(["$.name", "$.outputs.statistics[1].bins[2]", "$.resources.cpus"], errors.Select(e => e.Path).Order());
        var thrown = Assert.Throws<ProtocolValidationException>(() => ManifestValidator.ParseOrThrow(json));
        Assert.Equal(3, thrown.Errors.Count);
        Assert.Contains("$.outputs.statistics[1].bins[2]", thrown.Message);
    }

    [Fact]
    public void Non_finite_bin_edges_are_rejected()
    {
        // JSON cannot carry NaN, but a manifest built in code can.
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);
        TrainManifest WithAgeBins(params double[] bins) => manifest with
        {
            Outputs = manifest.Outputs with { Statistics = [.. manifest.Outputs.Statistics.Select((s, i) => i == 1 ? s with { Bins = bins } : s)] },
        };

        Assert.Equal("$.outputs.statistics[1].bins[2]", Assert.Single(ManifestValidator.Validate(WithAgeBins(0, 10, double.PositiveInfinity))).Path);
        Assert.Contains("$.outputs.statistics[1].bins[1]", ManifestValidator.Validate(WithAgeBins(0, double.NaN, 20)).Select(e => e.Path));
    }

    [Theory]
    [InlineData("outputs.statistics[1].bin", "[0, 1]", "$.outputs.statistics[1].bin")]
    [InlineData("resourcez", "{}", "$.resourcez")]
    [InlineData("inputs[0].resource", "\"Patient\"", "$.inputs[0].resource")]
    public void An_unknown_member_is_rejected_with_its_path(string field, string json, string expectedPath)
    {
        var (manifest, errors) = ManifestValidator.Parse(With(ValidManifest, (field, json)));

        Assert.Null(manifest);
        var error = Assert.Single(errors);
        Assert.Equal(expectedPath, error.Path);
        Assert.Contains(expectedPath[(expectedPath.LastIndexOf('.') + 1)..], error.Message);
    }

    [Fact]
    public void A_member_of_the_wrong_type_is_rejected_with_its_path()
    {
        var error = Assert.Single(ManifestValidator.Parse(With(ValidManifest, ("resources.cpus", "\"one\""))).Errors);

        Assert.Equal("$.resources.cpus", error.Path);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void A_missing_manifest_is_reported_at_the_root(string? json)
    {
        var (manifest, errors) = ManifestValidator.Parse(json);

        Assert.Null(manifest);
        var error = Assert.Single(errors);
        Assert.Equal("$", error.Path);
        Assert.Contains(TrainManifest.LabelKey, error.Message);
    }

    [Theory]
    [InlineData("null")]
    [InlineData("{ \"format\": 1,")]
    [InlineData("[1, 2]")]
    public void Json_that_is_no_manifest_object_is_rejected(string json)
    {
        var (manifest, errors) = ManifestValidator.Parse(json);

        Assert.Null(manifest);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public void Resolve_fills_in_defaults_and_keeps_given_values()
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        var (values, errors) = ParameterValues.Resolve(manifest, Given("""{ "threshold": 2.5 }"""));

        Assert.Empty(errors);
        Assert.Equal("2026-01-01", values["reference_date"]!.GetValue<string>());
        Assert.Equal(2.5, values["threshold"]!.GetValue<double>());

        var (overridden, none) = ParameterValues.Resolve(manifest, Given("""{ "threshold": 1, "reference_date": "2020-02-29" }"""));
        Assert.Empty(none);
        Assert.Equal("2020-02-29", overridden["reference_date"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{ "threshold": 1, "treshold": 2 }""", "$.parameters.treshold")]
    [InlineData("""{ "threshold": "high" }""", "$.parameters.threshold")]
    [InlineData("""{ "threshold": 1, "reference_date": "2026-13-01" }""", "$.parameters.reference_date")]
    [InlineData("""{ "threshold": 1, "reference_date": 20260101 }""", "$.parameters.reference_date")]
    [InlineData("""{}""", "$.parameters.threshold")]
    public void Resolve_reports_unknown_mistyped_and_missing_parameters(string given, string expectedPath)
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        var (_, errors) = ParameterValues.Resolve(manifest, Given(given));

        Assert.Equal(expectedPath, Assert.Single(errors).Path);
    }

    [Fact]
    public void Resolve_without_given_values_needs_every_parameter_to_have_a_default()
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        Assert.Equal("$.parameters.threshold", Assert.Single(ParameterValues.Resolve(manifest, null).Errors).Path);
    }

    [Theory]
    [InlineData("string", "\"x\"", true)]
    [InlineData("string", "1", false)]
    [InlineData("integer", "3", true)]
    [InlineData("integer", "3.5", false)]
    [InlineData("integer", "\"3\"", false)]
    [InlineData("number", "3.5", true)]
    [InlineData("number", "true", false)]
    [InlineData("boolean", "false", true)]
    [InlineData("boolean", "0", false)]
    [InlineData("date", "\"2024-02-29\"", true)]
    [InlineData("date", "\"2023-02-29\"", false)]
    [InlineData("date", "\"2024-2-9\"", false)]
    [InlineData("date", "\"2024-02-29T00:00:00\"", false)]
    [InlineData("duration", "\"P1D\"", false)]
    public void Check_accepts_exactly_the_values_of_each_type(string type, string json, bool fits)
    {
        using var document = JsonDocument.Parse(json);

        Assert.Equal(fits, ParameterValues.Check(type, document.RootElement) is null);
    }

    // Result checks against the valid manifest above.
    private const string ValidResult = """
        {
          "statistics": {
            "patients": { "kind": "count", "value": 12 },
            "age": { "kind": "histogram", "counts": [3, 4, 5], "underflow": 0, "overflow": 1 },
            "by_sex": { "kind": "count", "categories": { "f": 7, "m": 5 } },
            "bmi": { "kind": "variance", "n": 10, "mean": 25.5, "m2": 80.25 },
            "dose": { "kind": "sum", "value": 12.75 },
            "weight": { "kind": "mean", "n": 0 }
          }
        }
        """;

    [Fact]
    public void A_valid_statistics_result_passes()
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        var (result, errors) = StatisticsResultValidator.Parse(manifest, ValidResult);

        Assert.Empty(errors);
        Assert.Equal(80.25, result!.Statistics["bmi"].M2);
    }

    [Theory]
    [InlineData("statistics.extra", """{ "kind": "count", "value": 1 }""", "$.statistics.extra")]
    [InlineData("statistics.bmi", null, "$.statistics.bmi")]
    [InlineData("statistics.patients.kind", "\"sum\"", "$.statistics.patients.kind")]
    [InlineData("statistics.patients.value", "2.5", "$.statistics.patients.value")]
    [InlineData("statistics.patients.value", "-1", "$.statistics.patients.value")]
    [InlineData("statistics.patients.value", null, "$.statistics.patients.value")]
    [InlineData("statistics.patients.n", "3", "$.statistics.patients.n")]
    [InlineData("statistics.by_sex.categories.f", "6.5", "$.statistics.by_sex.categories.f")]
    [InlineData("statistics.by_sex.categories.x", "1", "$.statistics.by_sex.categories.x")]
    [InlineData("statistics.by_sex.categories.m", null, "$.statistics.by_sex.categories.m")]
    [InlineData("statistics.by_sex.categories", null, "$.statistics.by_sex.categories")]
    [InlineData("statistics.age.counts", "[1, 2]", "$.statistics.age.counts")]
    [InlineData("statistics.age.counts", "[1, -2, 3]", "$.statistics.age.counts[1]")]
    [InlineData("statistics.age.overflow", "-1", "$.statistics.age.overflow")]
    [InlineData("statistics.bmi.m2", null, "$.statistics.bmi.m2")]
    [InlineData("statistics.bmi.m2", "-0.5", "$.statistics.bmi.m2")]
    [InlineData("statistics.bmi.mean", null, "$.statistics.bmi.mean")]
    [InlineData("statistics.bmi.n", "-1", "$.statistics.bmi.n")]
    [InlineData("statistics.weight.m2", "1", "$.statistics.weight.m2")]
    [InlineData("statistics.weight.mean", "70.5", "$.statistics.weight.mean")]
    [InlineData("statistics.bmi.n", "1", "$.statistics.bmi.m2")]
    [InlineData("statistics.dose.value", "1.5", null)]
    public void Statistics_result_problems_report_their_path(string field, string? json, string? expectedPath)
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        var (result, errors) = StatisticsResultValidator.Parse(manifest, With(ValidResult, (field, json)));

        if (expectedPath is null)
        {
            Assert.Empty(errors); // a sum may be fractional, unlike a count
            return;
        }
        Assert.Null(result);
        Assert.Equal(expectedPath, Assert.Single(errors).Path);
    }

    [Fact]
    public void A_statistics_result_with_an_unknown_member_is_rejected()
    {
        var manifest = ManifestValidator.ParseOrThrow(ValidManifest);

        var (result, errors) = StatisticsResultValidator.Parse(manifest, With(ValidResult, ("statistics.patients.valeu", "1")));

        Assert.Null(result);
        Assert.Equal("$.statistics.patients.valeu", Assert.Single(errors).Path);
    }

    private static Dictionary<string, JsonElement> Given(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    /// <summary>
    /// Returns <paramref name="json"/> with each field set (or removed, for a null value). Fields are
    /// paths such as <c>outputs.statistics[1].bins</c>; an index one past the end appends.
    /// </summary>
    internal static string With(string json, params (string Field, string? Json)[] changes)
    {
        var root = JsonNode.Parse(json)!;
        foreach (var (field, value) in changes)
        {
            var steps = Regex.Matches(field, @"\[(\d+)\]|[^.\[\]]+")
                .Select(m => m.Groups[1].Success ? (object)int.Parse(m.Groups[1].Value) : m.Value).ToList();
            var parent = root;
            foreach (var step in steps.SkipLast(1))
                parent = (step is int i ? parent[i] : parent[(string)step]) ?? throw new ArgumentException($"no '{step}' on the way to {field}");
            var replacement = value is null ? null : JsonNode.Parse(value);
            switch (steps[^1])
            {
                case int i when value is null: parent.AsArray().RemoveAt(i); break;
                case int i when i == parent.AsArray().Count: parent.AsArray().Add(replacement); break;
                case int i: parent[i] = replacement; break;
                case string name when value is null: parent.AsObject().Remove(name); break;
                case string name: parent[name] = replacement; break;
            }
        }
        return root.ToJsonString();
    }

    [Theory]
    [InlineData("parameters", "$.parameters")]
    [InlineData("outputs", "$.outputs")]
    public void Explicit_nulls_are_refused_rather_than_read_as_empty(string member, string path)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(ValidManifest)!.AsObject();
        node[member] = null;
        var (manifest, errors) = ManifestValidator.Parse(node.ToJsonString());
        Assert.Null(manifest);
        Assert.Contains(errors, e => e.Path == path && e.Message.Contains("not null"));
    }
}
