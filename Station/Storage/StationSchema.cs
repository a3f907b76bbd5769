namespace HealthTrain.Station.Storage;

/// <summary>The station database's schema, as an ordered list of migrations. Never edit a shipped migration: add a new one.</summary>
internal static class StationSchema
{
    public static readonly IReadOnlyList<(long Version, string Sql)> Migrations =
    [
        // Approvals bind to one exact image digest (Station/Approval); every decision is kept in approval_events.
        (1, """
            CREATE TABLE approvals (
                digest TEXT PRIMARY KEY,
                repository TEXT NOT NULL,
                train TEXT NOT NULL,
                version TEXT NOT NULL,
                kind TEXT NOT NULL,
                author TEXT NOT NULL,
                state TEXT NOT NULL,
                requested_at TEXT NOT NULL,
                decided_by TEXT NULL,
                decided_at TEXT NULL,
                reason TEXT NULL,
                signers_json TEXT NOT NULL,
                report_json TEXT NOT NULL
            );
            CREATE INDEX approvals_repository ON approvals (repository, state);
            CREATE TABLE approval_events (
                id INTEGER PRIMARY KEY,
                digest TEXT NOT NULL,
                decision TEXT NOT NULL,
                decided_by TEXT NOT NULL,
                decided_at TEXT NOT NULL,
                reason TEXT NULL
            );
            CREATE TABLE parked_jobs (
                job_id INTEGER PRIMARY KEY,
                digest TEXT NOT NULL,
                assignment_json TEXT NOT NULL,
                parked_at TEXT NOT NULL,
                wait_until TEXT NOT NULL
            );
            CREATE TABLE image_files (
                digest TEXT PRIMARY KEY,
                files_json BLOB NOT NULL
            );
            """),
        // The station's own record of the jobs it took (Station/Jobs/JobHistory), and checked results held in the outbox
        // until the operator releases or withholds them (Station/Release).
        (2, """
            CREATE TABLE station_jobs (
                job_id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL,
                round INTEGER NOT NULL,
                train TEXT NOT NULL,
                version TEXT NOT NULL,
                digest TEXT NOT NULL,
                state TEXT NOT NULL,
                received_at TEXT NOT NULL,
                started_at TEXT NULL,
                finished_at TEXT NULL,
                stage TEXT NULL,
                reason TEXT NULL,
                timings_json TEXT NULL
            );
            CREATE TABLE held_results (
                job_id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                assignment_json TEXT NOT NULL,
                result_json TEXT NOT NULL,
                update_file TEXT NULL,
                state TEXT NOT NULL,
                held_at TEXT NOT NULL,
                wait_until TEXT NOT NULL,
                decided_by TEXT NULL,
                decided_at TEXT NULL,
                reason TEXT NULL
            );
            """),
    ];
}
