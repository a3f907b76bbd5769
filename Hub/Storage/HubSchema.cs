namespace HealthTrain.Hub.Storage;

/// <summary>The hub's schema, as an ordered list of migrations. Never edit a shipped migration: add a new one.</summary>
internal static class HubSchema
{
    public static readonly IReadOnlyList<(long Version, string Sql)> Migrations =
    [
        (1, """
            CREATE TABLE identities (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                last_seen_at TEXT NULL
            );
            CREATE TABLE trains (
                id INTEGER PRIMARY KEY,
                owner_id INTEGER NOT NULL REFERENCES identities(id),
                repository TEXT NOT NULL,
                name TEXT NOT NULL,
                version TEXT NOT NULL,
                digest TEXT NOT NULL,
                kind TEXT NOT NULL,
                manifest_json TEXT NOT NULL,
                submitted_at TEXT NOT NULL,
                UNIQUE (repository, version)
            );
            CREATE TABLE runs (
                id INTEGER PRIMARY KEY,
                train_id INTEGER NOT NULL REFERENCES trains(id),
                owner_id INTEGER NOT NULL REFERENCES identities(id),
                state TEXT NOT NULL,
                rounds INTEGER NOT NULL,
                current_round INTEGER NOT NULL,
                parameters_json TEXT NOT NULL,
                created_at TEXT NOT NULL,
                finished_at TEXT NULL
            );
            CREATE TABLE rounds (
                run_id INTEGER NOT NULL REFERENCES runs(id),
                number INTEGER NOT NULL,
                state TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT NULL,
                pooled_json TEXT NULL,
                error TEXT NULL,
                PRIMARY KEY (run_id, number)
            );
            CREATE TABLE jobs (
                id INTEGER PRIMARY KEY,
                run_id INTEGER NOT NULL REFERENCES runs(id),
                round INTEGER NOT NULL,
                station_id INTEGER NOT NULL REFERENCES identities(id),
                state TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                lease_until TEXT NULL,
                claimed_at TEXT NULL,
                started_at TEXT NULL,
                finished_at TEXT NULL,
                error TEXT NULL,
                exit_code INTEGER NULL,
                log_tail TEXT NULL,
                timings_json TEXT NULL,
                inputs_json TEXT NULL,
                UNIQUE (run_id, round, station_id)
            );
            CREATE INDEX jobs_station_state ON jobs (station_id, state);
            CREATE TABLE results (
                job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
                digest TEXT NOT NULL,
                payload_json TEXT NOT NULL,
                received_at TEXT NOT NULL
            );
            """),
        // The provenance ledger (Hub/Ledger/LedgerStore.cs): entries, every complete subtree's hash, every signed tree head.
        (2, """
            CREATE TABLE ledger_entries (
                idx INTEGER PRIMARY KEY,
                leaf BLOB NOT NULL,
                leaf_hash BLOB NOT NULL
            );
            CREATE TABLE ledger_nodes (
                level INTEGER NOT NULL,
                idx INTEGER NOT NULL,
                hash BLOB NOT NULL,
                PRIMARY KEY (level, idx)
            ) WITHOUT ROWID;
            CREATE TABLE ledger_heads (
                tree_size INTEGER PRIMARY KEY,
                timestamp TEXT NOT NULL,
                root_hash BLOB NOT NULL,
                key_id TEXT NOT NULL,
                signature BLOB NOT NULL
            );
            """),
        // Publication (Hub/Trains/TrainPublication.cs) and researchers' signing keys (Hub/Identity/IdentityKeys.cs).
        (3, """
            ALTER TABLE trains ADD COLUMN state TEXT NOT NULL DEFAULT 'submitted';
            ALTER TABLE trains ADD COLUMN checks_json TEXT NULL;
            ALTER TABLE trains ADD COLUMN author_key_id TEXT NULL;
            ALTER TABLE trains ADD COLUMN decided_by TEXT NULL;
            ALTER TABLE trains ADD COLUMN decided_at TEXT NULL;
            ALTER TABLE trains ADD COLUMN decision_reason TEXT NULL;
            ALTER TABLE trains ADD COLUMN publication_key_id TEXT NULL;
            CREATE TABLE identity_keys (
                key_id TEXT PRIMARY KEY,
                identity_id INTEGER NOT NULL REFERENCES identities(id),
                public_key_pem TEXT NOT NULL,
                added_at TEXT NOT NULL,
                revoked_at TEXT NULL
            );
            """),
        // Training runs (Hub/Runs/RoundMerger.cs, Hub/Models/ModelStore.cs): settings, round deadlines and global models,
        // received updates, and every merged model version with its lineage.
        (4, """
            ALTER TABLE runs ADD COLUMN training_json TEXT NULL;
            ALTER TABLE rounds ADD COLUMN deadline_at TEXT NULL;
            ALTER TABLE rounds ADD COLUMN model_digest TEXT NULL;
            CREATE TABLE updates (
                job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
                digest TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                received_at TEXT NOT NULL
            );
            CREATE TABLE model_versions (
                id INTEGER PRIMARY KEY,
                digest TEXT NOT NULL,
                run_id INTEGER NOT NULL REFERENCES runs(id),
                round INTEGER NOT NULL,
                parent_digest TEXT NULL,
                strategy_json TEXT NOT NULL,
                contributors_json TEXT NOT NULL,
                metrics_json TEXT NOT NULL,
                samples INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                UNIQUE (run_id, round)
            );
            CREATE INDEX model_versions_digest ON model_versions (digest);
            """),
        // Which ledger entries concern which station (Hub/Ledger/StationReceipts.cs), with the size of the tree head
        // signed in the entry's transaction: the station's receipts are rebuilt from these and the ledger's own tables.
        (5, """
            CREATE TABLE ledger_station_entries (
                idx INTEGER PRIMARY KEY,
                station_id INTEGER NOT NULL REFERENCES identities(id),
                tree_size INTEGER NOT NULL
            );
            CREATE INDEX ledger_station_entries_station ON ledger_station_entries (station_id, idx);
            """),
    ];
}
