using System.Data;
using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Storage;

/// <summary>The station's own SQLite database (approvals, parked jobs, image file indexes), apart from the FHIR store: opens connections and applies the versioned schema migrations.</summary>
public sealed class StationDatabase
{
    private readonly string _connectionString;

    static StationDatabase()
    {
        SqlMapper.AddTypeHandler(new DateTimeOffsetHandler());
        SqlMapper.AddTypeHandler(new NullableDateTimeOffsetHandler());
    }

    public StationDatabase(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            ForeignKeys = true,
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString();
    }

    /// <summary>An open connection; callers dispose it.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Brings the schema up to the newest version; each migration runs in its own transaction.</summary>
    public void Migrate()
    {
        using var c = Open();
        c.Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        c.Execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
        var applied = c.Query<long>("SELECT version FROM schema_migrations").ToHashSet();
        foreach (var (version, sql) in StationSchema.Migrations)
        {
            if (applied.Contains(version)) continue;
            using var tx = c.BeginTransaction();
            c.Execute(sql, transaction: tx);
            c.Execute("INSERT INTO schema_migrations (version, applied_at) VALUES (@version, @now)",
                new { version, now = DateTimeOffset.UtcNow }, tx);
            tx.Commit();
        }
    }

    private sealed class DateTimeOffsetHandler : SqlMapper.TypeHandler<DateTimeOffset>
    {
        public override void SetValue(IDbDataParameter parameter, DateTimeOffset value) =>
            parameter.Value = value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

        public override DateTimeOffset Parse(object value) =>
            DateTimeOffset.Parse((string)value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }

    private sealed class NullableDateTimeOffsetHandler : SqlMapper.TypeHandler<DateTimeOffset?>
    {
        public override void SetValue(IDbDataParameter parameter, DateTimeOffset? value) =>
            parameter.Value = value is { } v
                ? v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture)
                : DBNull.Value;

        public override DateTimeOffset? Parse(object value) =>
            value is string s ? DateTimeOffset.Parse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null;
    }
}
