using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// The ingestion tables in the station's FHIR store, beside <c>fhir_resources</c>: runs, per-file progress, counters,
/// the quarantine, references waiting for the end of the run, and bundle fullUrl aliases.
/// </summary>
/// <remarks>
/// Created idempotently (<c>IF NOT EXISTS</c>, one transaction) when an ingestion starts, so they stay out of
/// <c>FhirSchema</c>'s numbered migrations until they are moved there.
/// </remarks>
internal static class IngestionSchema
{
    private const string Sql = """
        CREATE TABLE IF NOT EXISTS ingestion_runs (
            run_id            INTEGER PRIMARY KEY AUTOINCREMENT,
            format            TEXT NOT NULL,
            input_path        TEXT NOT NULL,
            input_fingerprint TEXT NOT NULL,
            files             INTEGER NOT NULL,
            bytes             INTEGER NOT NULL,
            started_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            finished_at       TEXT NULL,
            status            TEXT NOT NULL,   -- running | interrupted | failed | completed | abandoned
            attempts          INTEGER NOT NULL,
            error             TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_ingestion_runs_input ON ingestion_runs (format, input_path, status);

        -- One row per source file (the input path itself for sources that are not file-based), updated in each batch's transaction.
        CREATE TABLE IF NOT EXISTS ingestion_progress (
            run_id            INTEGER NOT NULL,
            file              TEXT NOT NULL,
            records_committed INTEGER NOT NULL,
            last_position     TEXT NULL,
            completed         INTEGER NOT NULL,
            PRIMARY KEY (run_id, file)
        );

        -- ingested:<Type>, refs:checked, refs:not-checked, refs:rewritten, refs:dangling
        CREATE TABLE IF NOT EXISTS ingestion_counts (
            run_id  INTEGER NOT NULL,
            counter TEXT NOT NULL,
            value   INTEGER NOT NULL,
            PRIMARY KEY (run_id, counter)
        );

        CREATE TABLE IF NOT EXISTS ingestion_quarantine (
            quarantine_id  INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id         INTEGER NOT NULL,
            position       TEXT NOT NULL,
            category       TEXT NOT NULL,
            reason         TEXT NOT NULL,
            resource_type  TEXT NULL,
            resource_id    TEXT NULL,
            raw            TEXT NULL,      -- the record's text up to the quarantine text limit
            raw_bytes      INTEGER NOT NULL,
            raw_truncated  INTEGER NOT NULL,
            quarantined_at TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_ingestion_quarantine_run ON ingestion_quarantine (run_id, category);

        -- References of ingested resources not resolvable when they were written: checked again at the end of the run;
        -- those still unresolved stay as 'dangling' for the report.
        CREATE TABLE IF NOT EXISTS ingestion_references (
            run_id        INTEGER NOT NULL,
            resource_type TEXT NOT NULL,
            id            TEXT NOT NULL,
            reference     TEXT NOT NULL,
            path          TEXT NOT NULL,
            position      TEXT NOT NULL,
            state         TEXT NOT NULL,   -- pending | dangling
            PRIMARY KEY (run_id, resource_type, id, reference)
        );
        CREATE INDEX IF NOT EXISTS ix_ingestion_references_state ON ingestion_references (run_id, state, resource_type, id);

        -- Bundle entries' urn fullUrls, so references from other files (and later runs) resolve.
        CREATE TABLE IF NOT EXISTS ingestion_full_urls (
            full_url      TEXT NOT NULL PRIMARY KEY,
            resource_type TEXT NOT NULL,
            id            TEXT NOT NULL
        );
        """;

    public static void Ensure(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        connection.Execute(Sql, transaction: transaction);
        transaction.Commit();
    }
}
