using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// Ingests any <see cref="IFhirSource"/> into a station's <see cref="FhirStore"/>: every record is validated (UTF-8, JSON,
/// a known R4 resource type, an id, the Firely SDK's strict R4 parse with STU3 recognised, well-formed references),
/// valid resources are upserted by (type, id) in transactional batches, and everything else goes to the quarantine with
/// its reason and text. Nothing is dropped: each record is either in the store or in the quarantine.
/// </summary>
/// <remarks>
/// <para>Idempotent: resources keep their ids, so ingesting the same input again updates rows and never duplicates them.</para>
/// <para>
/// Crash-safe: each batch's transaction also records how far each source file got (<c>ingestion_progress</c>). A run
/// that stopped (killed, interrupted, a source that threw) is resumed by the next run of the same format and input when
/// the files are unchanged (names, sizes, times): finished files are skipped, the file in progress restarts after its
/// last committed record, and the report covers the whole run.
/// </para>
/// <para>
/// References: <c>Type/id</c> targets are looked up as resources are written; those not found yet, bundle
/// <c>urn:uuid:</c>/<c>urn:oid:</c> references that did not resolve inside their own bundle (Synthea's organizations and
/// practitioners live in other files), and conditional references (<c>Organization?identifier=…</c>) are resolved at the
/// end of the run against the whole store, and rewritten to <c>Type/id</c> when found. A urn no ingested bundle entry
/// defines can never resolve: the resource is quarantined (<see cref="QuarantineCategory.BrokenReference"/>), as is one
/// with a malformed reference. A well-formed <c>Type/id</c> whose target is still missing is dangling, not an error by
/// default (FHIR lets resources refer to resources held elsewhere, and a later run may bring the target): the resource is
/// kept and the reference reported; <see cref="DanglingReferencePolicy.Quarantine"/> quarantines it instead.
/// Contained (<c>#id</c>) and absolute (<c>https://…</c>) references are not checked.
/// </para>
/// <para>Memory stays flat: records flow through bounded queues (one reading thread, <see cref="FhirIngestionOptions.Workers"/> validating, one writing).</para>
/// </remarks>
public sealed class FhirIngestion(FhirStore store, FhirIngestionOptions? options = null)
{
    private const int ChunkRecords = 64;
    private const long ChunkChars = 1 << 20;
    private const int AliasesPerChunk = 4096;

    private readonly FhirIngestionOptions _options = options ?? new FhirIngestionOptions();
    private long _readTicks;
    private long _validateTicks;
    private long _writeTicks;

    /// <summary>Ingests <paramref name="path"/> (a file or folder) read by <paramref name="source"/>; returns the report of the whole run.</summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; committed batches stay, and the next run resumes after them.</exception>
    public IngestionReport Run(IFhirSource source, string path, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var stopwatch = Stopwatch.StartNew();
        var input = Path.GetFullPath(path);
        if (!File.Exists(input) && !Directory.Exists(input))
        {
            throw new FileNotFoundException($"no file or folder at {path}", path);
        }

        var fileSource = source as IFileFhirSource;
        var files = fileSource?.ListFiles(input) ?? [input];
        var contents = fileSource is null ? AllFiles(input) : files;
        if (source is ISizeLimitedSource limited)
        {
            limited.MaxResourceBytes = _options.MaxResourceBytes;
        }

        using var connection = OpenBulkConnection();
        IngestionSchema.Ensure(connection);
        var run = IngestionRun.StartOrResume(connection, source.Format, input, contents, _options.Resume);
        var fullUrlSource = source as IFullUrlSource;
        var previousCallback = fullUrlSource?.FullUrlFound;
        var stages = new Dictionary<string, double>(StringComparer.Ordinal);
        _readTicks = _validateTicks = _writeTicks = 0;
        try
        {
            using (var writer = new IngestionWriter(connection, run.RunId, _options))
            {
                Pump(source, fileSource, input, files, run, writer, fullUrlSource, cancellationToken);
                writer.Commit();
                var resolveStart = Stopwatch.GetTimestamp();
                writer.ResolveReferences(cancellationToken);
                stages["resolve references"] = Stopwatch.GetElapsedTime(resolveStart).TotalSeconds;
            }

            run.Finish(connection, "completed", null);
        }
        catch (OperationCanceledException)
        {
            run.Finish(connection, "interrupted", "cancelled");
            throw;
        }
        catch (Exception e)
        {
            run.Finish(connection, "failed", e.Message);
            throw;
        }
        finally
        {
            if (fullUrlSource is not null)
            {
                fullUrlSource.FullUrlFound = previousCallback;
            }
        }

        stages["read (source thread)"] = Stopwatch.GetElapsedTime(0, _readTicks).TotalSeconds;
        stages["validate (all workers)"] = Stopwatch.GetElapsedTime(0, _validateTicks).TotalSeconds;
        stages["write (writer thread)"] = Stopwatch.GetElapsedTime(0, _writeTicks).TotalSeconds;
        return IngestionReport.Load(connection, run, stopwatch.Elapsed, store) with { StageSeconds = stages };
    }

    private SqliteConnection OpenBulkConnection()
    {
        var connection = store.OpenConnection();
        // As the folder loader: a 64 MB page cache for random-key index pages, and fewer WAL checkpoints.
        connection.Execute("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;");
        return connection;
    }

    private static IReadOnlyList<string> AllFiles(string input) =>
        File.Exists(input)
            ? [input]
            : Directory.EnumerateFiles(input, "*", new EnumerationOptions { RecurseSubdirectories = true }).Order(StringComparer.Ordinal).ToList();

    /// <summary>Reading thread → validating workers → this thread writing, in source order, with bounded queues.</summary>
    private void Pump(
        IFhirSource source,
        IFileFhirSource? fileSource,
        string input,
        IReadOnlyList<string> files,
        IngestionRun run,
        IngestionWriter writer,
        IFullUrlSource? fullUrlSource,
        CancellationToken cancellationToken)
    {
        var workers = Math.Max(1, _options.Workers);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var ordered = new BlockingCollection<Chunk>(workers * 3 + 2);
        using var work = new BlockingCollection<Chunk>(workers * 3 + 2);

        var aliases = new List<(string FullUrl, string TypeAndId)>();
        if (fullUrlSource is not null)
        {
            fullUrlSource.FullUrlFound = (fullUrl, typeAndId) => aliases.Add((fullUrl, typeAndId));
        }

        // Time the source thread spends reading (not waiting for room in the queues).
        long readStart = 0;
        void Emit(Chunk chunk)
        {
            if (aliases.Count > 0)
            {
                chunk.Aliases = [.. aliases];
                aliases.Clear();
            }

            var waiting = Stopwatch.GetTimestamp();
            ordered.Add(chunk, cancel.Token);
            work.Add(chunk, cancel.Token);
            readStart += Stopwatch.GetTimestamp() - waiting;
        }

        var producer = Task.Factory.StartNew(
            () =>
            {
                readStart = Stopwatch.GetTimestamp();
                try
                {
                    foreach (var file in files)
                    {
                        var key = fileSource is null ? "" : SourceFiles.Display(input, file);
                        if (run.IsCompleted(key))
                        {
                            continue;
                        }

                        var skip = run.CommittedRecords(key);
                        var records = fileSource is null ? source.Read(input, cancel.Token) : fileSource.ReadFile(input, file, cancel.Token);
                        long ordinal = 0;
                        var chunk = new Chunk(key);
                        foreach (var record in records)
                        {
                            cancel.Token.ThrowIfCancellationRequested();
                            ordinal++;
                            if (ordinal <= skip)
                            {
                                continue;
                            }

                            chunk.Add(ordinal, record);
                            if (chunk.Records.Count >= ChunkRecords || chunk.Chars >= ChunkChars || aliases.Count >= AliasesPerChunk)
                            {
                                Emit(chunk);
                                chunk = new Chunk(key);
                            }
                        }

                        chunk.EndOfFile = true;
                        chunk.FileRecords = Math.Max(ordinal, skip);
                        Emit(chunk);
                    }
                }
                finally
                {
                    Interlocked.Add(ref _readTicks, Stopwatch.GetTimestamp() - readStart);
                    ordered.CompleteAdding();
                    work.CompleteAdding();
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        var defaultLastUpdated = run.StartedAt;
        var validators = Enumerable.Range(0, workers).Select(_ => Task.Factory.StartNew(
            () =>
            {
                var validator = new ResourceValidator(_options, defaultLastUpdated);
                try
                {
                    foreach (var chunk in work.GetConsumingEnumerable(cancel.Token))
                    {
                        var start = Stopwatch.GetTimestamp();
                        chunk.Validate(validator);
                        Interlocked.Add(ref _validateTicks, Stopwatch.GetTimestamp() - start);
                    }
                }
                catch (OperationCanceledException)
                {
                    // The writer or the caller stopped the run.
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();

        var progress = Stopwatch.StartNew();
        long written = 0;
        try
        {
            foreach (var chunk in ordered.GetConsumingEnumerable(cancel.Token))
            {
                chunk.Done.Wait(cancel.Token);
                var start = Stopwatch.GetTimestamp();
                writer.Apply(chunk);
                _writeTicks += Stopwatch.GetTimestamp() - start;
                written += chunk.Records.Count;
                chunk.Dispose();
                if (_options.Progress is { } report && progress.Elapsed.TotalSeconds >= 5)
                {
                    report($"{written:N0} records ({run.CommittedBefore:N0} before this attempt)");
                    progress.Restart();
                }
            }

            // A source that threw ends the queue early: fail the run (committed batches stay for the resume).
            producer.GetAwaiter().GetResult();
            if (cancellationToken.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch
        {
            cancel.Cancel();
            try
            {
                Task.WaitAll([producer, .. validators], CancellationToken.None);
            }
            catch (AggregateException)
            {
                // Secondary to the exception being thrown.
            }

            throw;
        }

        Task.WaitAll(validators, CancellationToken.None);
    }

    /// <summary>Consecutive records of one file, validated by a worker, then written in order.</summary>
    internal sealed class Chunk(string file) : IDisposable
    {
        public string File { get; } = file;

        public List<(long Ordinal, SourceRecord Record)> Records { get; } = new(ChunkRecords);

        public ValidatedRecord[] Results { get; private set; } = [];

        public long Chars { get; private set; }

        public List<(string FullUrl, string TypeAndId)>? Aliases { get; set; }

        /// <summary>The last record of the file is in this chunk (or the file had no more).</summary>
        public bool EndOfFile { get; set; }

        /// <summary>With <see cref="EndOfFile"/>: how many records the file had.</summary>
        public long FileRecords { get; set; }

        public ManualResetEventSlim Done { get; } = new(false);

        public void Add(long ordinal, SourceRecord record)
        {
            Records.Add((ordinal, record));
            Chars += (record.ResourceJson?.Length ?? 0) + 64;
        }

        public void Validate(ResourceValidator validator)
        {
            try
            {
                var results = new ValidatedRecord[Records.Count];
                for (var i = 0; i < results.Length; i++)
                {
                    results[i] = validator.Validate(Records[i].Record);
                }

                Results = results;
            }
            finally
            {
                Done.Set();
            }
        }

        public void Dispose() => Done.Dispose();
    }
}

/// <summary>One ingestion run's row in <c>ingestion_runs</c> and what earlier attempts committed.</summary>
internal sealed class IngestionRun
{
    private readonly Dictionary<string, (long Records, bool Completed)> _progress;

    private IngestionRun(long runId, string startedAt, bool resumed, Dictionary<string, (long, bool)> progress)
    {
        RunId = runId;
        StartedAt = startedAt;
        Resumed = resumed;
        _progress = progress;
        CommittedBefore = progress.Values.Sum(p => p.Item1);
    }

    public long RunId { get; }

    /// <summary>When the run first started: the lastUpdated of resources without meta.lastUpdated, the same across attempts.</summary>
    public string StartedAt { get; }

    public bool Resumed { get; }

    /// <summary>Records committed by earlier attempts of this run.</summary>
    public long CommittedBefore { get; }

    public bool IsCompleted(string file) => _progress.TryGetValue(file, out var p) && p.Completed;

    public long CommittedRecords(string file) => _progress.TryGetValue(file, out var p) ? p.Records : 0;

    public static IngestionRun StartOrResume(SqliteConnection connection, string format, string input, IReadOnlyList<string> files, bool resume)
    {
        var (fingerprint, bytes) = Fingerprint(input, files);
        var now = DateTimeOffset.UtcNow.ToString("O");
        using var transaction = connection.BeginTransaction();
        var unfinished = connection.QueryFirstOrDefault<(long RunId, string Fingerprint, string StartedAt)?>(
            """
            SELECT run_id, input_fingerprint, started_at FROM ingestion_runs
            WHERE format = @format AND input_path = @input AND status IN ('running', 'interrupted', 'failed')
            ORDER BY run_id DESC LIMIT 1
            """,
            new { format, input },
            transaction);

        IngestionRun run;
        if (unfinished is { } previous && resume && previous.Fingerprint == fingerprint)
        {
            connection.Execute(
                "UPDATE ingestion_runs SET status = 'running', attempts = attempts + 1, updated_at = @now, error = NULL WHERE run_id = @runId",
                new { now, runId = previous.RunId },
                transaction);
            var progress = connection
                .Query<(string File, long Records, long Completed)>(
                    "SELECT file, records_committed, completed FROM ingestion_progress WHERE run_id = @runId", new { runId = previous.RunId }, transaction)
                .ToDictionary(p => p.File, p => (p.Records, p.Completed != 0), StringComparer.Ordinal);
            run = new IngestionRun(previous.RunId, previous.StartedAt, true, progress);
        }
        else
        {
            if (unfinished is { } stale)
            {
                // Other files, or a restart was asked for: the old run's committed work stays, its resume point does not.
                connection.Execute(
                    "UPDATE ingestion_runs SET status = 'abandoned', updated_at = @now WHERE run_id = @runId", new { now, runId = stale.RunId }, transaction);
            }

            var runId = connection.ExecuteScalar<long>(
                """
                INSERT INTO ingestion_runs (format, input_path, input_fingerprint, files, bytes, started_at, updated_at, status, attempts)
                VALUES (@format, @input, @fingerprint, @files, @bytes, @now, @now, 'running', 1)
                RETURNING run_id
                """,
                new { format, input, fingerprint, files = files.Count, bytes, now },
                transaction);
            run = new IngestionRun(runId, now, false, new Dictionary<string, (long, bool)>(StringComparer.Ordinal));
        }

        transaction.Commit();
        return run;
    }

    public void Finish(SqliteConnection connection, string status, string? error)
    {
        var now = DateTimeOffset.UtcNow.ToString("O");
        connection.Execute(
            "UPDATE ingestion_runs SET status = @status, error = @error, updated_at = @now, finished_at = CASE WHEN @status = 'completed' THEN @now END WHERE run_id = @RunId",
            new { status, error, now, RunId });
    }

    /// <summary>SHA-256 over the files' relative names, sizes and modification times: a resume needs the same input.</summary>
    private static (string Fingerprint, long Bytes) Fingerprint(string input, IReadOnlyList<string> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        foreach (var file in files)
        {
            var info = new FileInfo(file);
            var length = info.Exists ? info.Length : -1;
            bytes += Math.Max(0, length);
            hash.AppendData(Encoding.UTF8.GetBytes($"{SourceFiles.Display(input, file)}\n{length}\n{(info.Exists ? info.LastWriteTimeUtc.Ticks : 0)}\n"));
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), bytes);
    }
}
