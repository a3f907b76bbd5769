using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Station.Views;

/// <summary>Runs the official SQL-on-FHIR v2 test files against the view engine and writes the report registered implementations publish.</summary>
/// <remarks>
/// Each test evaluates its <c>view</c> over the file's <c>resources</c> and passes when the rows equal <c>expect</c>
/// (in any order), the columns equal <c>expectColumns</c> (in order) and the row count equals <c>expectCount</c>,
/// whichever are given; a test with <c>expectError: true</c> passes when the view is rejected or its evaluation fails.
/// </remarks>
public static class ViewConformance
{
    /// <summary>Runs every <c>*.json</c> test file in <paramref name="testsDirectory"/>, in file name order.</summary>
    public static ConformanceReport RunFolder(string testsDirectory)
    {
        if (!Directory.Exists(testsDirectory)) throw new DirectoryNotFoundException($"no test folder at {testsDirectory}");
        var files = Directory.EnumerateFiles(testsDirectory, "*.json").Order(StringComparer.Ordinal).Select(RunFile).ToList();
        return new ConformanceReport(files);
    }

    /// <summary>Runs every test of one test file.</summary>
    /// <exception cref="InvalidDataException">The file is not a SQL-on-FHIR test file.</exception>
    public static ConformanceFileResult RunFile(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("tests", out var tests) || tests.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path} is not a SQL-on-FHIR test file: it has no 'tests' array");

            var resources = Resources(document.RootElement);
            return new ConformanceFileResult(Path.GetFileName(path), tests.EnumerateArray().Select(test => RunTest(test, resources)).ToList());
        }
    }

    /// <summary>The raw JSON of each fixture resource of a test file.</summary>
    public static IReadOnlyList<string> Resources(JsonElement testFile) =>
        testFile.TryGetProperty("resources", out var resources)
            ? resources.EnumerateArray().Select(r => r.GetRawText()).ToList()
            : [];

    /// <summary>Runs one test object over the file's fixture resources.</summary>
    public static ConformanceTestResult RunTest(JsonElement test, IReadOnlyList<string> resources)
    {
        var name = test.TryGetProperty("title", out var title) ? title.GetString() ?? "" : "";
        var expectError = test.TryGetProperty("expectError", out var error) && error.ValueKind == JsonValueKind.True;
        if (!test.TryGetProperty("view", out var viewJson)) return new(name, false, "the test has no view");
        CompiledView view;
        List<object?[]> rows;
        try
        {
            view = CompiledView.Compile(viewJson);
            rows = view.Evaluate(resources).ToList();
        }
        catch (Exception e) when (e is ViewDefinitionException or ViewEvaluationException)
        {
            return expectError ? new(name, true, null) : new(name, false, e.Message);
        }

        if (expectError) return new(name, false, $"expected an error, but the view produced {rows.Count} rows");

        var reasons = new List<string>();
        if (test.TryGetProperty("expectColumns", out var columns))
        {
            var expected = columns.EnumerateArray().Select(c => c.GetString()).ToList();
            var actual = view.Columns.Select(c => c.Name).ToList();
            if (!expected.SequenceEqual(actual))
                reasons.Add($"expected columns ({string.Join(", ", expected)}), got ({string.Join(", ", actual)})");
        }

        if (test.TryGetProperty("expectCount", out var count) && count.GetInt32() != rows.Count)
            reasons.Add($"expected {count.GetInt32()} rows, got {rows.Count}");

        if (test.TryGetProperty("expect", out var expect))
        {
            var actualRows = rows.Select(row => ViewRowJson.ToObject(view.Columns, row)).ToList();
            if (ConformanceRows.Mismatch(actualRows, expect) is { } mismatch) reasons.Add(mismatch);
        }
        else if (!test.TryGetProperty("expectColumns", out _) && !test.TryGetProperty("expectCount", out _))
        {
            reasons.Add("the test has no expectation (expect, expectColumns, expectCount or expectError)");
        }

        return reasons.Count == 0 ? new(name, true, null) : new(name, false, string.Join("; ", reasons));
    }

    /// <summary>The report as registered implementations publish it: <c>{"file.json": {"tests": [{"name", "result": {"passed", "reason"?}}]}}</c>.</summary>
    public static JsonObject ToJson(ConformanceReport report)
    {
        var json = new JsonObject();
        foreach (var file in report.Files)
        {
            var tests = new JsonArray();
            foreach (var test in file.Tests)
            {
                var result = new JsonObject { ["passed"] = test.Passed };
                if (!test.Passed) result["reason"] = test.Reason ?? "failed";
                tests.Add(new JsonObject { ["name"] = test.Name, ["result"] = result });
            }

            json[file.File] = new JsonObject { ["tests"] = tests };
        }

        return json;
    }

    /// <summary>Writes <see cref="ToJson"/> of <paramref name="report"/> to <paramref name="path"/>, creating its folder.</summary>
    public static void WriteReport(ConformanceReport report, string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null) Directory.CreateDirectory(folder);
        File.WriteAllText(path, ToJson(report).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
