using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Fhir;

/// <summary>
/// Loads a folder tree of FHIR R4 files (<c>*.json</c> Bundles or single resources, <c>*.ndjson</c>) into a <see cref="FhirStore"/>:
/// one transaction per file, unchanged files skipped by SHA-256, broken files rejected without stopping the load.
/// </summary>
public sealed class FhirFolderLoader(FhirStore store)
{
    // Parsed-but-unwritten events held between the parser and the writer; bounds memory to a few files.
    private const int PipelineDepth = 8;

    /// <summary>Loads every <c>.json</c> and <c>.ndjson</c> file under <paramref name="folder"/>, in ordinal path order.</summary>
    public FhirLoadReport Load(string folder, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var files = Directory
            .EnumerateFiles(Path.GetFullPath(folder), "*", new EnumerationOptions { RecurseSubdirectories = true })
            .Where(IsFhirFile)
            .Order(StringComparer.Ordinal)
            .ToList();
        var parser = new FhirFileParser(LoadedHashes(), DateTimeOffset.UtcNow.ToString("O"));

        // Parsing takes about as long as the SQLite writes: overlap them on two threads.
        using var writer = new Writer(store);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var events = new BlockingCollection<FhirFileEvent>(PipelineDepth);
        var producer = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    foreach (var file in files)
                    {
                        cancel.Token.ThrowIfCancellationRequested();
                        parser.Parse(file, e => events.Add(e, cancel.Token));
                    }
                }
                finally
                {
                    events.CompleteAdding();
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        try
        {
            foreach (var e in events.GetConsumingEnumerable(cancel.Token))
            {
                writer.Handle(e);
            }
        }
        catch
        {
            // Stop the parser and let it finish before the caller sees the writer's (or the cancellation's) exception.
            cancel.Cancel();
            try
            {
                producer.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // Secondary to the exception being thrown.
            }

            throw;
        }

        // Surfaces a parser failure, or the caller's cancellation if it won the race with the last file.
        producer.GetAwaiter().GetResult();
        return writer.Report(stopwatch.Elapsed);
    }

    private static bool IsFhirFile(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);

    private Dictionary<string, string> LoadedHashes()
    {
        using var connection = store.OpenConnection();
        return connection
            .Query<(string Path, string Sha256)>("SELECT path, sha256 FROM loaded_files WHERE status = 'loaded'")
            .ToDictionary(r => r.Path, r => r.Sha256, StringComparer.Ordinal);
    }

    /// <summary>Applies parser events to the store, keeping one open batch per file, and tallies the report.</summary>
    private sealed class Writer(FhirStore store) : IDisposable
    {
        private const string RecordFileSql = """
            INSERT INTO loaded_files (path, sha256, loaded_at, resources, status, error)
            VALUES (@path, @sha256, @loadedAt, @resources, @status, @error)
            ON CONFLICT (path) DO UPDATE SET
                sha256    = excluded.sha256,
                loaded_at = excluded.loaded_at,
                resources = excluded.resources,
                status    = excluded.status,
                error     = excluded.error
            """;

        private readonly Dictionary<string, long> _fileCounts = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _totalCounts = new(StringComparer.Ordinal);
        private readonly List<FhirRejectedFile> _rejectedFiles = [];
        private readonly List<FhirRejectedResource> _rejectedResources = [];
        private readonly SqliteConnection _connection = OpenBulkConnection(store);
        private FhirResourceBatch? _batch;
        private int _filesLoaded;
        private int _filesSkipped;
        private long _bytesLoaded;

        public void Handle(FhirFileEvent e)
        {
            switch (e)
            {
                case FhirFileSkipped:
                    _filesSkipped++;
                    break;

                case FhirFileRows rows:
                    _batch ??= FhirStore.BeginBatch(_connection);
                    foreach (var row in rows.Rows)
                    {
                        _batch.Upsert(row);
                        _fileCounts[row.ResourceType] = _fileCounts.GetValueOrDefault(row.ResourceType) + 1;
                    }

                    break;

                case FhirFileCompleted completed:
                    _batch ??= FhirStore.BeginBatch(_connection);
                    RecordFile(_batch.Connection, _batch.Transaction, completed.Path, completed.Sha256, _batch.Count, "loaded", null);
                    _batch.Commit();
                    EndFile();
                    foreach (var (type, count) in _fileCounts)
                    {
                        _totalCounts[type] = _totalCounts.GetValueOrDefault(type) + count;
                    }

                    _fileCounts.Clear();
                    _rejectedResources.AddRange(completed.Rejected.Select(r => new FhirRejectedResource(completed.Path, r.Location, r.Reason)));
                    _filesLoaded++;
                    _bytesLoaded += completed.Bytes;
                    break;

                case FhirFileFailed failed:
                    EndFile();
                    _fileCounts.Clear();
                    RecordFile(_connection, null, failed.Path, failed.Sha256, 0, "rejected", failed.Reason);
                    _rejectedFiles.Add(new FhirRejectedFile(failed.Path, failed.Reason));
                    break;
            }
        }

        public FhirLoadReport Report(TimeSpan elapsed) => new(
            _filesLoaded,
            _filesSkipped,
            _rejectedFiles,
            new SortedDictionary<string, long>(_totalCounts, StringComparer.Ordinal),
            _rejectedResources,
            _bytesLoaded,
            elapsed);

        /// <summary>Rolls back a file left half-sent (failure or cancellation) and closes the connection.</summary>
        public void Dispose()
        {
            EndFile();
            _connection.Dispose();
        }

        private void EndFile()
        {
            _batch?.Dispose();
            _batch = null;
        }

        private static SqliteConnection OpenBulkConnection(FhirStore store)
        {
            var connection = store.OpenConnection();
            // Bulk load: random UUID keys touch index pages all over, so a 64 MB page cache avoids re-reading
            // them, and a ~40 MB WAL between checkpoints copies each rewritten page to the database once, not
            // once per file (measured: 20% fewer bytes written, 20-30% faster on the 580 MB Synthea set).
            connection.Execute("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;");
            return connection;
        }

        private static void RecordFile(
            SqliteConnection connection,
            SqliteTransaction? transaction,
            string path,
            string sha256,
            long resources,
            string status,
            string? error) =>
            connection.Execute(
                RecordFileSql,
                new { path, sha256, loadedAt = DateTimeOffset.UtcNow.ToString("O"), resources, status, error },
                transaction);
    }
}
