using System.Globalization;
using System.Text;
using Dapper;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Ingestion;

/// <summary>A quarantined record as stored: where it was, why, and its text up to the limit.</summary>
/// <param name="Position">Where in the input, e.g. <c>Condition.ndjson, line 12</c> or <c>Abe_Smith.json, entry[7]</c>.</param>
/// <param name="Category">One of <see cref="QuarantineCategory"/>'s codes.</param>
/// <param name="Reason">The full reason.</param>
/// <param name="ResourceType">The resource type, when it was known.</param>
/// <param name="ResourceId">The resource id, when it was known.</param>
/// <param name="Raw">The record's text (or its beginning), when there was any.</param>
/// <param name="RawBytes">Size of the whole record in UTF-8 bytes.</param>
/// <param name="RawTruncated"><paramref name="Raw"/> holds only the beginning.</param>
public sealed record QuarantineEntry(
    string Position, string Category, string Reason, string? ResourceType, string? ResourceId, string? Raw, long RawBytes, bool RawTruncated);

/// <summary>The outcome of an ingestion run (all its attempts), read back from the store's ingestion tables.</summary>
public sealed record IngestionReport
{
    /// <summary>Samples per category in <see cref="QuarantineSamples"/>.</summary>
    public const int SamplesPerCategory = 3;

    public required long RunId { get; init; }

    public required string Format { get; init; }

    public required string InputPath { get; init; }

    /// <summary>This attempt continued an unfinished run.</summary>
    public required bool Resumed { get; init; }

    /// <summary>Records earlier attempts had committed (skipped by this one).</summary>
    public required long ResumedAfterRecords { get; init; }

    /// <summary>How many times the run was started.</summary>
    public required int Attempts { get; init; }

    public required int Files { get; init; }

    public required long Bytes { get; init; }

    /// <summary>Wall time of this attempt.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Records upserted, per resource type (a record ingested twice counts twice; the store holds it once).</summary>
    public required IReadOnlyDictionary<string, long> IngestedByType { get; init; }

    /// <summary>Records quarantined, per <see cref="QuarantineCategory"/>.</summary>
    public required IReadOnlyDictionary<string, long> QuarantinedByCategory { get; init; }

    /// <summary>The first few quarantined records of each category.</summary>
    public required IReadOnlyList<QuarantineEntry> QuarantineSamples { get; init; }

    /// <summary>References checked against the store (Type/id, urn and conditional).</summary>
    public required long ReferencesChecked { get; init; }

    /// <summary>Contained and absolute references, which are not checked.</summary>
    public required long ReferencesNotChecked { get; init; }

    /// <summary>urn and conditional references rewritten to Type/id at the end of the run.</summary>
    public required long ReferencesRewritten { get; init; }

    /// <summary>References whose target is not in the store (kept, by default).</summary>
    public required long DanglingReferences { get; init; }

    /// <summary>Dangling references per target type, with how many distinct targets.</summary>
    public required IReadOnlyDictionary<string, (long References, long Targets)> DanglingByTargetType { get; init; }

    /// <summary>What the store holds after the run, per resource type.</summary>
    public required IReadOnlyDictionary<string, long> StoreByType { get; init; }

    /// <summary>Busy seconds per pipeline stage in this attempt (threads overlap, so they add up to more than <see cref="Elapsed"/>).</summary>
    public IReadOnlyDictionary<string, double> StageSeconds { get; init; } = new Dictionary<string, double>();

    public long Ingested => IngestedByType.Values.Sum();

    public long Quarantined => QuarantinedByCategory.Values.Sum();

    /// <summary>Records read: each is either ingested or quarantined.</summary>
    public long Records => Ingested + Quarantined;

    /// <summary>The report as the <c>ingest</c> verb prints it.</summary>
    public string ToText()
    {
        var text = new StringBuilder();
        var seconds = Math.Max(Elapsed.TotalSeconds, 1e-6);
        text.AppendLine(CultureInfo.InvariantCulture, $"ingest {Format} {InputPath}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  run          {RunId}{(Resumed ? $", resumed (attempt {Attempts}) after {ResumedAfterRecords:N0} committed records" : "")}");
        text.AppendLine(CultureInfo.InvariantCulture, $"  input        {Files:N0} files, {Bytes / 1e6:F1} MB; this attempt {Elapsed.TotalSeconds:F1} s ({(Records - ResumedAfterRecords) / seconds:N0} records/s)");
        text.AppendLine(CultureInfo.InvariantCulture, $"  records      {Records:N0}: {Ingested:N0} ingested, {Quarantined:N0} quarantined");
        text.AppendLine(CultureInfo.InvariantCulture, $"  ingested     {Join(IngestedByType)}");
        if (Quarantined == 0)
        {
            text.AppendLine("  quarantined  none");
        }
        else
        {
            text.AppendLine("  quarantined  per reason:");
            foreach (var (category, count) in QuarantinedByCategory.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal))
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"    {category,-22} {count,9:N0}");
                foreach (var sample in QuarantineSamples.Where(s => s.Category == category))
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"      e.g. {Shorten(sample.Reason, 300)}");
                }
            }
        }

        text.AppendLine(CultureInfo.InvariantCulture,
            $"  references   {ReferencesChecked:N0} checked, {ReferencesRewritten:N0} rewritten to Type/id, {ReferencesNotChecked:N0} contained or absolute (not checked)");
        if (DanglingReferences > 0)
        {
            var byType = string.Join(", ", DanglingByTargetType.OrderByDescending(d => d.Value.References)
                .Select(d => $"{d.Key} {d.Value.References:N0} ({d.Value.Targets:N0} targets)"));
            text.AppendLine(CultureInfo.InvariantCulture, $"  dangling     {DanglingReferences:N0} references to resources not in the store, kept: {byType}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"  store now    {Join(StoreByType)}");
        if (StageSeconds.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  busy time    {string.Join(", ", StageSeconds.Select(s => $"{s.Key} {s.Value:F1} s"))}");
        }
        return text.ToString();
    }

    private static string Join(IReadOnlyDictionary<string, long> counts) =>
        counts.Count == 0 ? "none" : string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value:N0}"));

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    internal static IngestionReport Load(SqliteConnection connection, IngestionRun run, TimeSpan elapsed, FhirStore store)
    {
        var row = connection.QuerySingle<(string Format, string Input, long Files, long Bytes, long Attempts)>(
            "SELECT format, input_path, files, bytes, attempts FROM ingestion_runs WHERE run_id = @RunId", new { run.RunId });
        var counters = IngestionLog.Counters(connection, run.RunId);
        var dangling = connection
            .Query<(string Type, long References, long Targets)>(
                """
                SELECT CASE WHEN instr(reference, '/') > 0 THEN substr(reference, 1, instr(reference, '/') - 1) ELSE reference END AS target_type,
                       COUNT(*), COUNT(DISTINCT reference)
                FROM ingestion_references WHERE run_id = @RunId AND state = 'dangling'
                GROUP BY target_type
                """,
                new { run.RunId })
            .ToDictionary(d => d.Type, d => (d.References, d.Targets), StringComparer.Ordinal);
        return new IngestionReport
        {
            RunId = run.RunId,
            Format = row.Format,
            InputPath = row.Input,
            Resumed = run.Resumed,
            ResumedAfterRecords = run.CommittedBefore,
            Attempts = (int)row.Attempts,
            Files = (int)row.Files,
            Bytes = row.Bytes,
            Elapsed = elapsed,
            IngestedByType = Prefixed(counters, "ingested:"),
            QuarantinedByCategory = Prefixed(counters, "quarantined:"),
            QuarantineSamples = connection.Query<QuarantineRow>(
                """
                SELECT position, category, reason, resource_type, resource_id, NULL AS raw, raw_bytes, raw_truncated FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY quarantine_id) AS n
                    FROM ingestion_quarantine WHERE run_id = @RunId)
                WHERE n <= @samples ORDER BY category, quarantine_id
                """,
                new { run.RunId, samples = SamplesPerCategory }).Select(q => q.ToEntry()).ToList(),
            ReferencesChecked = counters.GetValueOrDefault("refs:checked"),
            ReferencesNotChecked = counters.GetValueOrDefault("refs:not-checked"),
            ReferencesRewritten = counters.GetValueOrDefault("refs:rewritten"),
            DanglingReferences = dangling.Values.Sum(d => d.References),
            DanglingByTargetType = dangling,
            StoreByType = store.CountByType(),
        };
    }

    private static SortedDictionary<string, long> Prefixed(IReadOnlyDictionary<string, long> counters, string prefix) =>
        new(counters.Where(c => c.Key.StartsWith(prefix, StringComparison.Ordinal) && c.Value != 0)
                .ToDictionary(c => c.Key[prefix.Length..], c => c.Value),
            StringComparer.Ordinal);
}

/// <summary>Reads the ingestion tables of a store: runs, the quarantine, counters.</summary>
public static class IngestionLog
{
    /// <summary>The latest run's id, or null when the store was never ingested into.</summary>
    public static long? LatestRun(FhirStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        using var connection = store.OpenConnection();
        IngestionSchema.Ensure(connection);
        return connection.ExecuteScalar<long?>("SELECT MAX(run_id) FROM ingestion_runs");
    }

    /// <summary>Every quarantined record of run <paramref name="runId"/>, in the order they were quarantined.</summary>
    public static IReadOnlyList<QuarantineEntry> Quarantine(FhirStore store, long runId)
    {
        ArgumentNullException.ThrowIfNull(store);
        using var connection = store.OpenConnection();
        IngestionSchema.Ensure(connection);
        return connection.Query<QuarantineRow>(
            """
            SELECT position, category, reason, resource_type, resource_id, raw, raw_bytes, raw_truncated
            FROM ingestion_quarantine WHERE run_id = @runId ORDER BY quarantine_id
            """,
            new { runId }).Select(q => q.ToEntry()).ToList();
    }

    /// <summary>The status of run <paramref name="runId"/>: running, interrupted, failed, completed or abandoned.</summary>
    public static string? Status(FhirStore store, long runId)
    {
        ArgumentNullException.ThrowIfNull(store);
        using var connection = store.OpenConnection();
        IngestionSchema.Ensure(connection);
        return connection.ExecuteScalar<string?>("SELECT status FROM ingestion_runs WHERE run_id = @runId", new { runId });
    }

    internal static Dictionary<string, long> Counters(SqliteConnection connection, long runId) =>
        connection.Query<(string Counter, long Value)>("SELECT counter, value FROM ingestion_counts WHERE run_id = @runId", new { runId })
            .ToDictionary(c => c.Counter, c => c.Value, StringComparer.Ordinal);
}

internal sealed class QuarantineRow
{
    public string position { get; set; } = "";

    public string category { get; set; } = "";

    public string reason { get; set; } = "";

    public string? resource_type { get; set; }

    public string? resource_id { get; set; }

    public string? raw { get; set; }

    public long raw_bytes { get; set; }

    public long raw_truncated { get; set; }

    public QuarantineEntry ToEntry() => new(position, category, reason, resource_type, resource_id, raw, raw_bytes, raw_truncated != 0);
}
