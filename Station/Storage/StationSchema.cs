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
        // Small-cell suppression (Station/Disclosure): every statistics release with its k, and each cell withheld.
        (2, """
            CREATE TABLE statistics_releases (
                job_id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL,
                round INTEGER NOT NULL,
                train TEXT NOT NULL,
                version TEXT NOT NULL,
                min_cell_count INTEGER NOT NULL,
                suppressed_cells INTEGER NOT NULL,
                released_at TEXT NOT NULL
            );
            CREATE TABLE suppressed_cells (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL REFERENCES statistics_releases (job_id),
                statistic TEXT NOT NULL,
                cell TEXT NOT NULL,
                reason TEXT NOT NULL
            );
            CREATE INDEX suppressed_cells_job ON suppressed_cells (job_id);
            """),
        // The hub's ledger key as pinned here, the receipts of this station's own ledger entries (Station/Receipts), and the
        // station's own audit log (Station/Audit), independent of the hub.
        (3, """
            CREATE TABLE ledger_pin (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                key_id TEXT NOT NULL,
                public_key_pem TEXT NOT NULL,
                source TEXT NOT NULL,
                pinned_at TEXT NOT NULL
            );
            CREATE TABLE ledger_receipts (
                idx INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                tree_size INTEGER NOT NULL,
                receipt_json TEXT NOT NULL,
                received_at TEXT NOT NULL,
                problem TEXT NULL
            );
            CREATE TABLE audit_events (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                job_id INTEGER NULL,
                run_id INTEGER NULL,
                train TEXT NULL,
                train_version TEXT NULL,
                digest TEXT NULL,
                actor TEXT NOT NULL,
                details_json TEXT NOT NULL
            );
            CREATE INDEX audit_events_job ON audit_events (job_id);
            CREATE INDEX audit_events_train ON audit_events (train, id);
            """),
        // The station's own record of the jobs it took (Station/Jobs/JobHistory), and checked results held in the outbox
        // until the operator releases or withholds them (Station/Release).
        (4, """
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
