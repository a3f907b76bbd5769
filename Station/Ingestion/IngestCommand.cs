using System.Globalization;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Ingestion;

/// <summary>The station's <c>ingest</c> verb: reads an export into the station's FHIR store, quarantining what is not valid FHIR R4, and prints the report.</summary>
public static class IngestCommand
{
    /// <summary>How to call the verb.</summary>
    public const string Usage = """
        usage:
          ingest --format synthea-csv|omop|fhir-bundle|fhir-ndjson --store PATH.db [options] PATH
              read PATH (a file or a folder) in the given format, validate every resource as FHIR R4 (Firely SDK,
              strict), upsert the valid ones into the store (created if missing) and quarantine the others with
              the reason; print the report. An unfinished run of the same input resumes after its last batch.
          options:
            --batch N                     records per transaction (default 1000)
            --max-resource-mb N           larger resources are quarantined (default 16)
            --dangling keep|quarantine    resources whose Type/id references point at nothing at the end of the
                                          run: keep and report them (default), or quarantine them
            --restart                     start a new run instead of resuming an unfinished one
          exit code: 0 when the run completed, quarantined records included (they are in the report);
                     1 when the run stopped (re-run to resume); 2 for a usage error
        """;

    /// <summary>Runs the verb with its arguments (the ones after <c>ingest</c>); returns the process exit code.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Count == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Count == 0 ? 2 : 0;
        }

        if (!TryParse(args, out var positional, out var values, out var flags, out var problem))
        {
            return UsageError(stderr, problem);
        }

        if (positional.Count != 1) return UsageError(stderr, positional.Count == 0 ? "ingest needs the PATH to read" : $"unexpected argument '{positional[1]}'");
        if (!values.TryGetValue("format", out var format)) return UsageError(stderr, "ingest needs --format " + string.Join("|", FhirSourceFormats.Planned));
        if (!values.TryGetValue("store", out var storePath)) return UsageError(stderr, "ingest needs --store PATH.db");
        var options = new FhirIngestionOptions { Resume = !flags.Contains("restart"), Progress = line => stderr.WriteLine($"ingest: {line}") };
        if (values.TryGetValue("batch", out var batch))
        {
            if (!int.TryParse(batch, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size < 1) return UsageError(stderr, $"--batch needs a positive number, not '{batch}'");
            options = options with { BatchSize = size };
        }

        if (values.TryGetValue("max-resource-mb", out var maxMb))
        {
            if (!int.TryParse(maxMb, NumberStyles.None, CultureInfo.InvariantCulture, out var mb) || mb is < 1 or > 1024) return UsageError(stderr, $"--max-resource-mb needs a number from 1 to 1024, not '{maxMb}'");
            options = options with { MaxResourceBytes = mb << 20 };
        }

        if (values.TryGetValue("dangling", out var dangling))
        {
            DanglingReferencePolicy? policy = dangling switch { "keep" => DanglingReferencePolicy.Keep, "quarantine" => DanglingReferencePolicy.Quarantine, _ => null };
            if (policy is null) return UsageError(stderr, $"--dangling is keep or quarantine, not '{dangling}'");
            options = options with { DanglingReferences = policy.Value };
        }

        if (!FhirSourceFormats.TryCreate(format, out var source))
        {
            return FhirSourceFormats.Planned.Contains(format)
                ? UsageError(stderr, $"format '{format}' is not available in this build yet; available: {string.Join(", ", FhirSourceFormats.Names)}")
                : UsageError(stderr, $"unknown format '{format}'; use {string.Join(", ", FhirSourceFormats.Names)}");
        }

        var input = positional[0];
        if (!File.Exists(input) && !Directory.Exists(input))
        {
            stderr.WriteLine($"ingest: no file or folder at {input}");
            return 2;
        }

        try
        {
            var report = new FhirIngestion(new FhirStore(storePath), options).Run(source, input, cancellationToken);
            stdout.Write(report.ToText());
            return 0;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("ingest: interrupted; committed batches are kept: run the same command again to resume");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException or InvalidOperationException)
        {
            stderr.WriteLine($"ingest: the run stopped: {e.Message}; committed batches are kept: run the same command again to resume");
            return 1;
        }
    }

    /// <summary>Runs with Ctrl+C stopping the run cleanly (the open batch rolls back, committed ones stay).</summary>
    public static int RunFromConsole(IReadOnlyList<string> args)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler handler = (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += handler;
        try
        {
            return Run(args, Console.Out, Console.Error, cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= handler;
        }
    }

    private static bool TryParse(
        IReadOnlyList<string> args, out List<string> positional, out Dictionary<string, string> values, out HashSet<string> flags, out string problem)
    {
        positional = [];
        values = new Dictionary<string, string>(StringComparer.Ordinal);
        flags = new HashSet<string>(StringComparer.Ordinal);
        problem = "";
        string[] valued = ["format", "store", "batch", "max-resource-mb", "dangling"];
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                positional.Add(args[i]);
                continue;
            }

            var name = args[i][2..];
            if (name == "restart")
            {
                flags.Add(name);
                continue;
            }

            if (!valued.Contains(name))
            {
                problem = $"unknown option --{name}";
                return false;
            }

            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                problem = $"option --{name} needs a value";
                return false;
            }

            if (!values.TryAdd(name, args[++i]))
            {
                problem = $"option --{name} is given twice";
                return false;
            }
        }

        return true;
    }

    private static int UsageError(TextWriter stderr, string problem)
    {
        stderr.WriteLine($"ingest: {problem}");
        stderr.WriteLine(Usage);
        return 2;
    }
}
