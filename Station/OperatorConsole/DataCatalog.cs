using System.Text.Json;
using Dapper;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Views;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.OperatorConsole;

/// <summary>One ingestion run as the store recorded it.</summary>
public sealed record IngestionRunSummary(long RunId, string Format, string InputPath, string Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt,
    int Attempts, IReadOnlyDictionary<string, long> IngestedByType, long Quarantined, string? Error);

/// <summary>A view known at this station: shipped with it (<c>fhir-mappings/views</c>) or declared by a train inspected here.</summary>
public sealed record KnownView(string Name, string Resource, IReadOnlyList<string> Columns, string Source, string? Problem = null);

/// <summary>What the station holds: resources by type, the last folder load, the latest ingestion runs, and the views it knows.</summary>
public sealed record DataCatalog(IReadOnlyDictionary<string, long> Resources, FhirLoadReport? LastLoad, IReadOnlyList<IngestionRunSummary> Ingestions,
    IReadOnlyList<KnownView> Views)
{
    private const int RunsShown = 10;

    public static DataCatalog Read(FhirStore store, StationStatus status, ApprovalStore approvals) =>
        new(store.CountByType(), status.LastLoad, ReadIngestions(store), [.. SharedViews(), .. TrainViews(approvals)]);

    private static List<IngestionRunSummary> ReadIngestions(FhirStore store)
    {
        using var c = store.OpenConnection();
        IngestionSchema.Ensure(c);
        var runs = c.Query<(long RunId, string Format, string Input, string Status, string StartedAt, string? FinishedAt, long Attempts, string? Error)>(
            "SELECT run_id, format, input_path, status, started_at, finished_at, attempts, error FROM ingestion_runs ORDER BY run_id DESC LIMIT @n",
            new { n = RunsShown }).AsList();
        return runs.Select(r =>
        {
            var counters = IngestionLog.Counters(c, r.RunId);
            var ingested = counters.Where(k => k.Key.StartsWith("ingested:", StringComparison.Ordinal) && k.Value != 0)
                .ToDictionary(k => k.Key["ingested:".Length..], k => k.Value, StringComparer.Ordinal);
            var quarantined = counters.Where(k => k.Key.StartsWith("quarantined:", StringComparison.Ordinal)).Sum(k => k.Value);
            return new IngestionRunSummary(r.RunId, r.Format, r.Input, r.Status, Parse(r.StartedAt)!.Value, Parse(r.FinishedAt), (int)r.Attempts, ingested, quarantined, r.Error);
        }).ToList();
    }

    private static DateTimeOffset? Parse(string? text) =>
        DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at) ? at : null;

    /// <summary>The shared views next to the station (as the mapping sets are found), or none when it ships without them.</summary>
    private static IEnumerable<KnownView> SharedViews()
    {
        var folder = ViewsFolder();
        if (folder is null) yield break;
        foreach (var file in Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            KnownView view;
            try
            {
                view = Describe(name, CompiledView.Parse(File.ReadAllText(file)), "fhir-mappings/views");
            }
            catch (Exception e) when (e is IOException or JsonException or ViewDefinitionException or ArgumentException or FormatException)
            {
                view = new KnownView(name, "", [], "fhir-mappings/views", e.Message);
            }
            yield return view;
        }
    }

    private static string? ViewsFolder()
    {
        if (Environment.GetEnvironmentVariable(Mapping.MappingSetLocator.EnvironmentVariable) is { Length: > 0 } root && Directory.Exists(Path.Combine(root, "views")))
            return Path.Combine(root, "views");
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (Directory.Exists(Path.Combine(directory.FullName, "fhir-mappings", "views")))
                return Path.Combine(directory.FullName, "fhir-mappings", "views");
        return null;
    }

    /// <summary>The views trains inspected here declare, with the train and its approval state: what they would read.</summary>
    private static IEnumerable<KnownView> TrainViews(ApprovalStore approvals)
    {
        foreach (var approval in approvals.List())
        {
            var report = approvals.Find(approval.Digest, withReport: true)?.Report;
            if (report is null) continue;
            foreach (var input in report.Manifest.Inputs.Where(i => i.Kind == InputKinds.View && i.View is not null))
            {
                var source = $"{approval.Train} {approval.Version} ({approval.State})";
                KnownView view;
                try
                {
                    view = Describe(input.Name ?? "", CompiledView.Compile(input.View!.Value), source);
                }
                catch (Exception e) when (e is JsonException or ViewDefinitionException or ArgumentException or FormatException)
                {
                    view = new KnownView(input.Name ?? "", "", [], source, e.Message);
                }
                yield return view;
            }
        }
    }

    private static KnownView Describe(string name, CompiledView view, string source) =>
        new(view.Definition.Name ?? name, view.ResourceType, view.Columns.Select(c => c.Type is null ? c.Name : $"{c.Name} ({c.Type})").ToList(), source);
}
