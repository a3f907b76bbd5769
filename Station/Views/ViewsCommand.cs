using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Views;

/// <summary>The station's <c>views</c> verb: <c>views conformance</c> runs the official test suite, <c>views run</c> evaluates a view over the station's FHIR store.</summary>
public static class ViewsCommand
{
    /// <summary>How to call the verb.</summary>
    public const string Usage = """
        usage:
          views conformance --tests DIR --out FILE
              run the official SQL-on-FHIR v2 test files in DIR, write the test report to FILE,
              print a summary; exit 0 only when every test passed
          views run VIEW.json --store PATH.db [--format csv|ndjson|parquet] [--out FILE]
              evaluate the ViewDefinition over the station's FHIR store; rows go to FILE or stdout
              (the format defaults to FILE's extension, else csv; parquet needs --out)
        """;

    /// <summary>Runs the verb with its arguments (the ones after <c>views</c>); returns the process exit code.</summary>
    /// <param name="args">The arguments after <c>views</c>.</param>
    /// <param name="stdout">Where summaries go.</param>
    /// <param name="stderr">Where progress and errors go.</param>
    /// <param name="rowOutput">Where <c>views run</c> writes rows without <c>--out</c>; the process's standard output when null.</param>
    /// <param name="cancellationToken">Stops a long evaluation.</param>
    public static async Task<int> RunAsync(
        IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, Stream? rowOutput = null, CancellationToken cancellationToken = default)
    {
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Count == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Count == 0 ? 2 : 0;
        }

        if (!TryParseOptions(args.Skip(1).ToList(), out var positional, out var options, out var problem))
            return UsageError(stderr, problem);

        return args[0] switch
        {
            "conformance" => Conformance(positional, options, stdout, stderr),
            "run" => await RunViewAsync(positional, options, stderr, rowOutput, cancellationToken),
            _ => UsageError(stderr, $"unknown views command '{args[0]}'"),
        };
    }

    private static int Conformance(List<string> positional, Dictionary<string, string> options, TextWriter stdout, TextWriter stderr)
    {
        if (positional.Count > 0) return UsageError(stderr, $"unexpected argument '{positional[0]}'");
        if (Unknown(options, "tests", "out") is { } unknown) return UsageError(stderr, $"unknown option --{unknown}");
        if (!options.TryGetValue("tests", out var tests) || !options.TryGetValue("out", out var output))
            return UsageError(stderr, "views conformance needs --tests DIR and --out FILE");
        if (!Directory.Exists(tests))
        {
            stderr.WriteLine($"views conformance: no test folder at {tests}");
            return 2;
        }

        ConformanceReport report;
        try
        {
            report = ViewConformance.RunFolder(tests);
        }
        catch (InvalidDataException e)
        {
            stderr.WriteLine($"views conformance: {e.Message}");
            return 2;
        }

        ViewConformance.WriteReport(report, output);
        foreach (var file in report.Files)
        {
            stdout.WriteLine($"{file.File,-28} {file.Passed,3}/{file.Tests.Count}");
            foreach (var failed in file.Tests.Where(t => !t.Passed))
                stdout.WriteLine($"    FAILED {failed.Name}: {failed.Reason}");
        }

        stdout.WriteLine($"report: {Path.GetFullPath(output)}");
        stdout.WriteLine($"{report.Passed} passed, {report.Total - report.Passed} failed");
        return report.Passed == report.Total ? 0 : 1;
    }

    private static async Task<int> RunViewAsync(
        List<string> positional, Dictionary<string, string> options, TextWriter stderr, Stream? rowOutput, CancellationToken cancellationToken)
    {
        if (positional.Count != 1) return UsageError(stderr, "views run needs exactly one VIEW.json");
        if (Unknown(options, "store", "format", "out") is { } unknown) return UsageError(stderr, $"unknown option --{unknown}");
        if (!options.TryGetValue("store", out var storePath)) return UsageError(stderr, "views run needs --store PATH.db");
        options.TryGetValue("out", out var output);
        if (!TryFormat(options.GetValueOrDefault("format"), output, out var format, out var problem)) return UsageError(stderr, problem);
        if (format == ViewOutputFormat.Parquet && output is null)
            return UsageError(stderr, "parquet output needs --out FILE (a Parquet file is written with seeks, not to a pipe)");

        var viewPath = positional[0];
        if (!File.Exists(viewPath))
        {
            stderr.WriteLine($"views run: no view file at {viewPath}");
            return 2;
        }

        // FhirStore creates a missing database; a typo in --store must not leave an empty one behind.
        if (!File.Exists(storePath))
        {
            stderr.WriteLine($"views run: no FHIR store at {storePath}");
            return 2;
        }

        CompiledView view;
        try
        {
            view = CompiledView.Parse(await File.ReadAllTextAsync(viewPath, cancellationToken));
        }
        catch (ViewDefinitionException e)
        {
            stderr.WriteLine($"views run: {viewPath}: {e.Message}");
            return 1;
        }

        var temporary = output is null ? null : output + ".partial";
        try
        {
            var rows = view.Evaluate(FhirStoreResources.ReadJson(new FhirStore(storePath), view.ResourceType));
            long count;
            if (temporary is null)
            {
                var stream = rowOutput ?? Console.OpenStandardOutput();
                count = await ViewOutput.WriteAsync(view.Columns, rows, format, stream, cancellationToken);
                await stream.FlushAsync(cancellationToken);
            }
            else
            {
                await using (var stream = File.Create(temporary))
                {
                    count = await ViewOutput.WriteAsync(view.Columns, rows, format, stream, cancellationToken);
                }

                // Readers never see a half-written file: it appears under its name only once complete.
                File.Move(temporary, output!, overwrite: true);
            }

            stderr.WriteLine($"views run: {count} rows, {view.Columns.Count} columns ({format.ToString().ToLowerInvariant()})" +
                (output is null ? "" : $" written to {output}"));
            return 0;
        }
        catch (Exception e) when (e is ViewEvaluationException or SqliteException or IOException)
        {
            stderr.WriteLine($"views run: {e.Message}");
            return 1;
        }
        finally
        {
            if (temporary is not null && File.Exists(temporary)) File.Delete(temporary);
        }
    }

    private static bool TryFormat(string? name, string? output, out ViewOutputFormat format, out string problem)
    {
        problem = "";
        name ??= Path.GetExtension(output ?? "").TrimStart('.') switch
        {
            "ndjson" or "jsonl" => "ndjson",
            "parquet" => "parquet",
            _ => "csv",
        };
        switch (name)
        {
            case "csv": format = ViewOutputFormat.Csv; return true;
            case "ndjson": format = ViewOutputFormat.Ndjson; return true;
            case "parquet": format = ViewOutputFormat.Parquet; return true;
            default:
                format = default;
                problem = $"unknown format '{name}'; use csv, ndjson or parquet";
                return false;
        }
    }

    private static bool TryParseOptions(
        List<string> args, out List<string> positional, out Dictionary<string, string> options, out string problem)
    {
        positional = [];
        options = new Dictionary<string, string>(StringComparer.Ordinal);
        problem = "";
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(args[i]);
                continue;
            }

            var name = args[i][2..];
            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                problem = $"option --{name} needs a value";
                return false;
            }

            if (!options.TryAdd(name, args[++i]))
            {
                problem = $"option --{name} is given twice";
                return false;
            }
        }

        return true;
    }

    private static string? Unknown(Dictionary<string, string> options, params string[] known) =>
        options.Keys.FirstOrDefault(k => !known.Contains(k));

    private static int UsageError(TextWriter stderr, string problem)
    {
        stderr.WriteLine($"views: {problem}");
        stderr.WriteLine(Usage);
        return 2;
    }
}
