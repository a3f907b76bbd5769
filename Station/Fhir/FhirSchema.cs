using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Fhir;

/// <summary>Versioned schema migrations of the station's FHIR store, applied in order and recorded in <c>schema_migrations</c>.</summary>
internal static class FhirSchema
{
    /// <summary>One schema step; <see cref="Version"/> values are never reused or reordered once shipped.</summary>
    private sealed record Migration(int Version, string Name, string Sql);

    private static readonly Migration[] Migrations =
    [
        new(1, "fhir_resources", """
            CREATE TABLE fhir_resources (
                resource_type TEXT NOT NULL,
                id            TEXT NOT NULL,
                last_updated  TEXT NOT NULL,
                subject       TEXT NULL,
                json          TEXT NOT NULL,
                PRIMARY KEY (resource_type, id)
            );
            CREATE INDEX ix_fhir_resources_subject ON fhir_resources (subject);
            """),
        new(2, "loaded_files", """
            CREATE TABLE loaded_files (
                path      TEXT NOT NULL PRIMARY KEY,
                sha256    TEXT NOT NULL,
                loaded_at TEXT NOT NULL,
                resources INTEGER NOT NULL,
                status    TEXT NOT NULL,
                error     TEXT NULL
            );
            """),
        // A counter every change to fhir_resources bumps, so derived data (materialized views) knows when it is stale.
        new(3, "fhir_generation", """
            CREATE TABLE fhir_generation (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
            INSERT INTO fhir_generation (id, value) VALUES (1, 0);
            CREATE TRIGGER fhir_resources_inserted AFTER INSERT ON fhir_resources
                BEGIN UPDATE fhir_generation SET value = value + 1 WHERE id = 1; END;
            CREATE TRIGGER fhir_resources_updated AFTER UPDATE ON fhir_resources
                BEGIN UPDATE fhir_generation SET value = value + 1 WHERE id = 1; END;
            CREATE TRIGGER fhir_resources_deleted AFTER DELETE ON fhir_resources
                BEGIN UPDATE fhir_generation SET value = value + 1 WHERE id = 1; END;
            """),
    ];

    /// <summary>Applies every migration not yet recorded, each in its own transaction.</summary>
    public static void Migrate(SqliteConnection connection)
    {
        connection.Execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER NOT NULL PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """);

        foreach (var migration in Migrations)
        {
            // Microsoft.Data.Sqlite starts BEGIN IMMEDIATE, so two processes opening the same
            // database serialize here and the loser sees the version already recorded.
            using var transaction = connection.BeginTransaction();
            var applied = connection.ExecuteScalar<long>(
                "SELECT COUNT(*) FROM schema_migrations WHERE version = @Version",
                new { migration.Version }, transaction);
            if (applied > 0)
            {
                continue;
            }

            connection.Execute(migration.Sql, transaction: transaction);
            connection.Execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@Version, @Name, @AppliedAt)",
                new { migration.Version, migration.Name, AppliedAt = DateTimeOffset.UtcNow.ToString("O") },
                transaction);
            transaction.Commit();
        }
    }
}
