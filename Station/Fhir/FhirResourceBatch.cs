using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Fhir;

/// <summary>A write transaction on the FHIR store with one prepared upsert reused for every resource; disposing without <see cref="Commit"/> rolls back.</summary>
public sealed class FhirResourceBatch : IDisposable
{
    // ON CONFLICT ... DO UPDATE with excluded.* is the same in SQLite and PostgreSQL.
    private const string UpsertSql = """
        INSERT INTO fhir_resources (resource_type, id, last_updated, subject, json)
        VALUES (@type, @id, @last_updated, @subject, @json)
        ON CONFLICT (resource_type, id) DO UPDATE SET
            last_updated = excluded.last_updated,
            subject      = excluded.subject,
            json         = excluded.json
        """;

    private readonly SqliteCommand _upsert;
    private readonly SqliteParameter _type;
    private readonly SqliteParameter _id;
    private readonly SqliteParameter _lastUpdated;
    private readonly SqliteParameter _subject;
    private readonly SqliteParameter _json;
    private readonly bool _ownsConnection;

    internal FhirResourceBatch(SqliteConnection connection, bool ownsConnection)
    {
        Connection = connection;
        _ownsConnection = ownsConnection;
        Transaction = connection.BeginTransaction();
        _upsert = connection.CreateCommand();
        _upsert.Transaction = Transaction;
        _upsert.CommandText = UpsertSql;
        _type = _upsert.Parameters.Add("@type", SqliteType.Text);
        _id = _upsert.Parameters.Add("@id", SqliteType.Text);
        _lastUpdated = _upsert.Parameters.Add("@last_updated", SqliteType.Text);
        _subject = _upsert.Parameters.Add("@subject", SqliteType.Text);
        _json = _upsert.Parameters.Add("@json", SqliteType.Text);
        _upsert.Prepare();
    }

    /// <summary>The connection the batch writes on; other statements of the same unit of work use it with <see cref="Transaction"/>.</summary>
    internal SqliteConnection Connection { get; }

    /// <summary>The open transaction.</summary>
    internal SqliteTransaction Transaction { get; }

    /// <summary>Number of upserts issued so far.</summary>
    public long Count { get; private set; }

    /// <summary>Inserts the resource, or replaces the stored one with the same type and id.</summary>
    public void Upsert(in FhirResourceRow row)
    {
        _type.Value = row.ResourceType;
        _id.Value = row.Id;
        _lastUpdated.Value = row.LastUpdated;
        _subject.Value = (object?)row.Subject ?? DBNull.Value;
        _json.Value = row.Json;
        _upsert.ExecuteNonQuery();
        Count++;
    }

    /// <summary>Makes every upsert of the batch durable at once.</summary>
    public void Commit()
    {
        Transaction.Commit();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // SqliteTransaction.Dispose rolls back when Commit was not reached.
        _upsert.Dispose();
        Transaction.Dispose();
        if (_ownsConnection)
        {
            Connection.Dispose();
        }
    }
}
