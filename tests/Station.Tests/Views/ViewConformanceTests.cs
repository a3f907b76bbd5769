using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Station.Views;

namespace HealthTrain.Station.Tests.Views;

public sealed class ViewConformanceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-views-conformance-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TestsDir => Path.Combine(_dir, "tests");

    private void WriteTestFile(string name, string json)
    {
        Directory.CreateDirectory(TestsDir);
        File.WriteAllText(Path.Combine(TestsDir, name), json);
    }

    private const string Crafted = """
        {
          "title": "crafted",
          "resources": [
            {"resourceType": "Patient", "id": "p1", "name": [{"family": "A"}, {"family": "B"}]},
            {"resourceType": "Patient", "id": "p2"}
          ],
          "tests": [
            {"title": "rows in another order",
             "view": {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}, {"name": "n", "path": "name.count()"}]}]},
             "expect": [{"id": "p2", "n": 0.0}, {"id": "p1", "n": 2}]},
            {"title": "a row too few",
             "view": {"resource": "Patient", "select": [{"forEach": "name", "column": [{"name": "f", "path": "family"}]}]},
             "expect": [{"f": "A"}]},
            {"title": "an error that comes",
             "view": {"resource": "Patient", "select": [{"column": [{"name": "f", "path": "name.family"}]}]},
             "expectError": true},
            {"title": "an error that does not come",
             "view": {"resource": "Patient", "select": [{"column": [{"name": "id", "path": "id"}]}]},
             "expectError": true},
            {"title": "columns in another order",
             "view": {"resource": "Patient", "select": [{"column": [{"name": "a", "path": "id"}, {"name": "b", "path": "id"}]}]},
             "expectColumns": ["b", "a"],
             "expect": [{"a": "p1", "b": "p1"}, {"a": "p2", "b": "p2"}]}
          ]
        }
        """;

    [Fact]
    public void The_report_has_the_published_shape_with_reasons_on_failures()
    {
        WriteTestFile("crafted.json", Crafted);
        var report = ViewConformance.RunFolder(TestsDir);
        var path = Path.Combine(_dir, "out", "test_report.json");
        ViewConformance.WriteReport(report, path);

        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.Equal(["crafted.json"], json.Select(p => p.Key));
        var file = json["crafted.json"]!.AsObject();
        Assert.Equal(["tests"], file.Select(p => p.Key));
        var tests = file["tests"]!.AsArray().Select(t => t!.AsObject()).ToList();
        Assert.Equal(
            ["rows in another order", "a row too few", "an error that comes", "an error that does not come", "columns in another order"],
            tests.Select(t => t["name"]!.GetValue<string>()));
        Assert.Equal([true, false, true, false, false], tests.Select(t => t["result"]!["passed"]!.GetValue<bool>()));

        foreach (var test in tests)
        {
            var result = test["result"]!.AsObject();
            var passed = result["passed"]!.GetValue<bool>();
            // A passing test carries only "passed"; a failing one says why.
            Assert.Equal(passed ? ["passed"] : ["passed", "reason"], result.Select(p => p.Key));
            Assert.Equal(["name", "result"], test.Select(p => p.Key));
        }

        Assert.Equal("expected 1 rows, got 2; unexpected {\"f\":\"B\"}", ReasonOf(tests, "a row too few"));
        Assert.Contains("expected an error", ReasonOf(tests, "an error that does not come"));
        Assert.Contains("expected columns (b, a), got (a, b)", ReasonOf(tests, "columns in another order"));
        Assert.Equal(2, report.Passed);
        Assert.Equal(5, report.Total);
    }

    private static string ReasonOf(List<JsonObject> tests, string name) =>
        tests.Single(t => t["name"]!.GetValue<string>() == name)["result"]!["reason"]!.GetValue<string>();

    [Fact]
    public void The_official_suite_passes_in_full()
    {
        var report = ViewConformance.RunFolder(OfficialSuite.Directory);

        Assert.Equal(22, report.Files.Count);
        Assert.Equal(OfficialSuite.Tests().Count(), report.Total);
        Assert.All(report.Files.SelectMany(f => f.Tests), t => Assert.True(t.Passed, $"{t.Name}: {t.Reason}"));
    }

    [Fact]
    public async Task The_conformance_verb_prints_a_summary_and_fails_unless_every_test_passed()
    {
        WriteTestFile("crafted.json", Crafted);
        var reportPath = Path.Combine(_dir, "report.json");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        var exit = await ViewsCommand.RunAsync(["conformance", "--tests", TestsDir, "--out", reportPath], stdout, stderr);

        Assert.Equal(1, exit);
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("2 passed, 3 failed", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("crafted.json") && l.EndsWith("2/5"));
        Assert.Contains(lines, l => l.StartsWith("FAILED a row too few:"));
        Assert.True(File.Exists(reportPath));
    }

    [Fact]
    public async Task The_conformance_verb_exits_zero_on_the_official_suite()
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var exit = await ViewsCommand.RunAsync(["conformance", "--tests", OfficialSuite.Directory, "--out", Path.Combine(_dir, "r.json")], stdout, stderr);

        Assert.Equal(0, exit);
        Assert.EndsWith($"{OfficialSuite.Tests().Count()} passed, 0 failed", stdout.ToString().TrimEnd());
    }

    [Fact]
    public async Task A_file_that_is_not_a_test_file_is_a_clear_error()
    {
        WriteTestFile("crafted.json", Crafted);
        WriteTestFile("zz-report.json", """{"crafted.json": {"tests": []}}""");
        var stderr = new StringWriter();

        var exit = await ViewsCommand.RunAsync(["conformance", "--tests", TestsDir, "--out", Path.Combine(_dir, "r.json")], new StringWriter(), stderr);

        Assert.Equal(2, exit);
        Assert.Contains("zz-report.json is not a SQL-on-FHIR test file", stderr.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("conformance --tests x")]
    [InlineData("conformance --tests x --out")]
    [InlineData("conformance --tests x --out y --bogus z")]
    [InlineData("explode")]
    public async Task Usage_errors_exit_two_with_the_usage(string commandLine)
    {
        var args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var stderr = new StringWriter();
        Assert.Equal(2, await ViewsCommand.RunAsync(args, new StringWriter(), stderr));
        Assert.Contains("views conformance --tests DIR --out FILE", stderr.ToString());
    }
}
