using System.Buffers;
using System.Text;
using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Fhir;

/// <summary>The station's FHIR R4 resource store: one SQLite database (WAL) holding each resource's JSON keyed by type and id.</summary>
public sealed class FhirStore
{
    private readonly string _connectionString;

    /// <summary>Opens (creating if needed) the database at <paramref name="databasePath"/> and applies pending schema migrations.</summary>
    public FhirStore(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        DatabasePath = Path.GetFullPath(databasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // Unpooled so that closing the store really releases the file (tests delete it, operators copy it).
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();

        using var connection = OpenConnection();
        FhirSchema.Migrate(connection);
    }

    /// <summary>Full path of the SQLite database file.</summary>
    public string DatabasePath { get; }

    /// <summary>Number of stored resources of <paramref name="resourceType"/>.</summary>
    public long Count(string resourceType)
    {
        using var connection = OpenConnection();
        return connection.ExecuteScalar<long>(
            "SELECT COUNT(*) FROM fhir_resources WHERE resource_type = @resourceType", new { resourceType });
    }

    /// <summary>Changes whenever any stored resource is inserted, updated or deleted; equal values mean equal contents.</summary>
    public long Generation()
    {
        using var connection = OpenConnection();
        return connection.ExecuteScalar<long>("SELECT value FROM fhir_generation WHERE id = 1");
    }

    /// <summary>Number of stored resources per resource type (types with none are absent).</summary>
    public IReadOnlyDictionary<string, long> CountByType()
    {
        using var connection = OpenConnection();
        return connection
            .Query<(string Type, long Count)>(
                "SELECT resource_type, COUNT(*) FROM fhir_resources GROUP BY resource_type ORDER BY resource_type")
            .ToDictionary(r => r.Type, r => r.Count, StringComparer.Ordinal);
    }

    /// <summary>Streams every resource of <paramref name="resourceType"/>, ordered by id, to <paramref name="destination"/> as NDJSON (one compact JSON object per line); returns how many were written.</summary>
    public long WriteNdjson(string resourceType, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var connection = OpenConnection();
        using var command = connection.CreateCommand();
        // The primary key (resource_type, id) serves both the filter and the order: no sort, rows stream.
        command.CommandText = "SELECT json FROM fhir_resources WHERE resource_type = @type ORDER BY id";
        command.Parameters.AddWithValue("@type", resourceType);
        using var reader = command.ExecuteReader();

        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long count = 0;
            while (reader.Read())
            {
                var json = reader.GetString(0);
                var needed = Encoding.UTF8.GetMaxByteCount(json.Length) + 1;
                if (buffer.Length < needed)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(needed);
                }

                var length = Encoding.UTF8.GetBytes(json, buffer);
                buffer[length] = (byte)'\n';
                destination.Write(buffer, 0, length + 1);
                count++;
            }

            return count;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Starts a write transaction for upserting many resources at once.</summary>
    public FhirResourceBatch BeginBatch() => new(OpenConnection(), ownsConnection: true);

    /// <summary>Starts a write transaction on a connection the caller keeps open across batches.</summary>
    /// <remarks>
    /// Closing the last connection to a WAL database checkpoints and deletes the WAL and drops the page cache,
    /// so a loader committing file after file must not open and close a connection per file.
    /// </remarks>
    internal static FhirResourceBatch BeginBatch(SqliteConnection connection) => new(connection, ownsConnection: false);

    /// <summary>Opens a connection with the store's per-connection settings applied.</summary>
    internal SqliteConnection OpenConnection()
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
            // WAL lets trains read while the loader writes; in WAL, synchronous=NORMAL stays
            // corruption-safe and only risks the last commits on power loss (the loader re-runs).
            connection.Execute("""
                PRAGMA journal_mode = WAL;
                PRAGMA busy_timeout = 30000;
                PRAGMA synchronous = NORMAL;
                """);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }
}
