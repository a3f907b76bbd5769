using System.Text;
using System.Text.Json;
using Dapper;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Tests.Fhir;

public sealed class FhirStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-fhirstore-").FullName;

    private string DbPath => Path.Combine(_dir, "fhir.db");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static FhirResourceRow Row(string type, string id, string? subject = null, string extra = "") =>
        new(type, id, "2024-01-01T00:00:00Z", subject, $$"""{"resourceType":"{{type}}","id":"{{id}}"{{(extra.Length > 0 ? "," + extra : "")}}}""");

    private static void Upsert(FhirStore store, params FhirResourceRow[] rows)
    {
        using var batch = store.BeginBatch();
        foreach (var row in rows)
        {
            batch.Upsert(row);
        }

        batch.Commit();
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection($"Data Source={DbPath};Pooling=False");
        connection.Open();
        return connection;
    }

    [Fact]
    public void Creates_the_schema_in_wal_mode_and_migrates_once()
    {
        _ = new FhirStore(DbPath);
        _ = new FhirStore(DbPath);

        using var db = Open();
        Assert.Equal([1L, 2L, 3L], db.Query<long>("SELECT version FROM schema_migrations ORDER BY version"));
        Assert.Equal("wal", db.ExecuteScalar<string>("PRAGMA journal_mode"));
        var columns = db.Query<string>("SELECT name FROM pragma_table_info('fhir_resources') ORDER BY cid");
        Assert.Equal(["resource_type", "id", "last_updated", "subject", "json"], columns);
        Assert.Equal(["path", "sha256", "loaded_at", "resources", "status", "error"], db.Query<string>("SELECT name FROM pragma_table_info('loaded_files') ORDER BY cid"));
    }

    [Fact]
    public void Upsert_replaces_a_resource_with_the_same_type_and_id()
    {
        var store = new FhirStore(DbPath);
        Upsert(store, Row("Patient", "p1", extra: "\"gender\":\"male\""), Row("Patient", "p2"));
        Upsert(store, Row("Patient", "p1", extra: "\"gender\":\"female\""));

        Assert.Equal(2, store.Count("Patient"));
        using var db = Open();
        var json = db.ExecuteScalar<string>("SELECT json FROM fhir_resources WHERE resource_type = 'Patient' AND id = 'p1'");
        Assert.Contains("female", json);
    }

    [Fact]
    public void Same_id_in_different_types_are_different_resources()
    {
        var store = new FhirStore(DbPath);
        Upsert(store, Row("Patient", "x"), Row("Observation", "x"), Row("Observation", "y"));

        Assert.Equal(1, store.Count("Patient"));
        Assert.Equal(2, store.Count("Observation"));
        Assert.Equal(0, store.Count("Condition"));
        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 2, ["Patient"] = 1 }, store.CountByType());
    }

    [Fact]
    public void A_batch_disposed_without_commit_writes_nothing()
    {
        var store = new FhirStore(DbPath);
        using (var batch = store.BeginBatch())
        {
            batch.Upsert(Row("Patient", "p1"));
            Assert.Equal(1, batch.Count);
        }

        Assert.Equal(0, store.Count("Patient"));
    }

    [Fact]
    public void Stores_the_subject_column()
    {
        var store = new FhirStore(DbPath);
        Upsert(store, Row("Observation", "o1", subject: "Patient/p1"), Row("Organization", "org"));

        using var db = Open();
        Assert.Equal("Patient/p1", db.ExecuteScalar<string>("SELECT subject FROM fhir_resources WHERE id = 'o1'"));
        Assert.Null(db.ExecuteScalar<string?>("SELECT subject FROM fhir_resources WHERE id = 'org'"));
    }

    [Fact]
    public void WriteNdjson_streams_one_compact_line_per_resource_ordered_by_id()
    {
        var store = new FhirStore(DbPath);
        // Inserted out of order, with non-ASCII text, to check ordering and UTF-8 output.
        Upsert(store,
            Row("Observation", "b", extra: "\"note\":\"Bétancourt ✓\""),
            Row("Observation", "c"),
            Row("Observation", "a"),
            Row("Patient", "p"));

        using var output = new MemoryStream();
        var written = store.WriteNdjson("Observation", output);

        Assert.Equal(3, written);
        var text = Encoding.UTF8.GetString(output.ToArray());
        Assert.EndsWith("\n", text);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(["a", "b", "c"], lines.Select(line => JsonDocument.Parse(line).RootElement.GetProperty("id").GetString()));
        Assert.Equal("Bétancourt ✓", JsonDocument.Parse(lines[1]).RootElement.GetProperty("note").GetString());
    }

    [Fact]
    public void WriteNdjson_of_a_missing_type_writes_nothing()
    {
        var store = new FhirStore(DbPath);
        Upsert(store, Row("Patient", "p"));

        using var output = new MemoryStream();
        Assert.Equal(0, store.WriteNdjson("Observation", output));
        Assert.Equal(0, output.Length);
    }

    [Fact]
    public void WriteNdjson_handles_resources_larger_than_its_buffer()
    {
        var store = new FhirStore(DbPath);
        var big = new string('x', 300_000);
        Upsert(store, Row("Binary", "b1", extra: $"\"data\":\"{big}\""), Row("Binary", "b2"));

        using var output = new MemoryStream();
        Assert.Equal(2, store.WriteNdjson("Binary", output));
        var lines = Encoding.UTF8.GetString(output.ToArray()).TrimEnd('\n').Split('\n');
        Assert.Equal(big, JsonDocument.Parse(lines[0]).RootElement.GetProperty("data").GetString());
        Assert.Equal("b2", JsonDocument.Parse(lines[1]).RootElement.GetProperty("id").GetString());
    }

    [Fact]
    public void The_generation_changes_with_every_write_and_only_then()
    {
        var store = new FhirStore(Path.Combine(Directory.CreateTempSubdirectory("ht-gen-").FullName, "fhir.db"));
        var empty = store.Generation();
        Assert.Equal(empty, store.Generation());
        using (var batch = store.BeginBatch())
        {
            batch.Upsert(new FhirResourceRow("Patient", "a", "2026-01-01T00:00:00Z", null, """{"resourceType":"Patient","id":"a"}"""));
            batch.Commit();
        }
        var one = store.Generation();
        Assert.NotEqual(empty, one);
        _ = store.CountByType();
        Assert.Equal(one, store.Generation());
        using (var batch = store.BeginBatch())
        {
            batch.Upsert(new FhirResourceRow("Patient", "a", "2026-01-02T00:00:00Z", null, """{"resourceType":"Patient","id":"a","gender":"male"}"""));
            // rolled back: no change
        }
        Assert.Equal(one, store.Generation());
        using (var batch = store.BeginBatch())
        {
            batch.Upsert(new FhirResourceRow("Patient", "a", "2026-01-02T00:00:00Z", null, """{"resourceType":"Patient","id":"a","gender":"male"}"""));
            batch.Commit();
        }
        Assert.NotEqual(one, store.Generation());
    }
}
