using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Hub.Merging;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Runs;

/// <summary>Outcome of a station's report on a job.</summary>
public enum JobReportOutcome
{
    Accepted,
    /// <summary>No such job for this station.</summary>
    NotFound,
    /// <summary>The job is not in a state that accepts this report (already finished, or not claimed).</summary>
    Conflict,
    /// <summary>The result broke the manifest; the job was failed with the reason.</summary>
    Refused,
}

/// <summary>
/// Hands queued jobs to stations and takes their reports. Every state change is one transaction;
/// the report that finishes a round also pools it and opens the next round or ends the run (statistics), or leaves it
/// to the <see cref="RoundMerger"/> (training).
/// </summary>
public sealed class JobQueue(HubDatabase db, JobSignal signal, LedgerStore ledger, MergeSignal merges, ILogger<JobQueue> log)
{
    /// <summary>Extra lease beyond the train's own timeout: pull, input preparation and upload.</summary>
    private static readonly TimeSpan LeaseMargin = TimeSpan.FromMinutes(5);

    private const int MaxAttempts = 3;

    /// <summary>Waits up to <paramref name="wait"/> for a job for this station and claims it.</summary>
    public async Task<JobAssignment?> NextAsync(Caller station, TimeSpan wait, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + wait;
        var first = true;
        while (true)
        {
            var notified = signal.Next;
            var job = TryClaim(station, first);
            first = false;
            if (job is not null) return job;
            var left = deadline - DateTimeOffset.UtcNow;
            if (left <= TimeSpan.Zero || ct.IsCancellationRequested) return null;
            await JobSignal.WaitAsync(notified, left, ct);
        }
    }

    private JobAssignment? TryClaim(Caller station, bool newPoll)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        if (newPoll)
        {
            c.Execute("UPDATE identities SET last_seen_at = @now WHERE id = @id", new { now, id = station.Id }, tx);
            RecoverAbandonedJobs(c, tx, station, now);
        }
        var row = c.QuerySingleOrDefault<ClaimRow>("""
            SELECT j.id, j.run_id, j.round, t.id AS train_id, t.name, t.version, t.repository, t.digest, t.manifest_json, r.parameters_json,
                   towner.name AS train_owner, rowner.name AS run_owner, r.rounds, r.training_json, rd.model_digest
            FROM jobs j JOIN runs r ON r.id = j.run_id JOIN trains t ON t.id = r.train_id
                 JOIN rounds rd ON rd.run_id = j.run_id AND rd.number = j.round
                 JOIN identities towner ON towner.id = t.owner_id JOIN identities rowner ON rowner.id = r.owner_id
            WHERE j.station_id = @station AND j.state = @queued
            ORDER BY j.id LIMIT 1
            """, new { station = station.Id, queued = JobStates.Queued }, tx);
        if (row is null)
        {
            Commit(tx);
            return null;
        }
        var manifest = JsonSerializer.Deserialize<TrainManifest>(row.Manifest_Json, ProtocolJson.Options)!;
        c.Execute("UPDATE jobs SET state = @claimed, attempts = attempts + 1, claimed_at = @now, lease_until = @lease WHERE id = @id",
            new { claimed = JobStates.Claimed, now, lease = now + TimeSpan.FromSeconds(manifest.Resources.TimeoutSeconds) + LeaseMargin, id = row.Id }, tx);
        RecordFor(c, tx, station, LedgerKinds.JobDispatched, "hub", $"job/{row.Id}", new JsonObject
        {
            ["run"] = $"run/{row.Run_Id}", ["round"] = row.Round, ["station"] = station.Name, ["digest"] = row.Digest,
        });
        Commit(tx);
        return new JobAssignment(row.Id, row.Run_Id, (int)row.Round, row.Train_Id, row.Name, row.Version,
            $"{row.Repository}@{row.Digest}", row.Digest, row.Manifest_Json, JsonNode.Parse(row.Parameters_Json)!.AsObject())
        {
            TrainOwner = row.Train_Owner,
            RunOwner = row.Run_Owner,
            Training = row.Training_Json is null ? null : JsonSerializer.Deserialize<TrainingSettings>(row.Training_Json, ProtocolJson.Api) is { } t
                ? new JobTraining((int)row.Rounds, t.Strategy, t.ProximalMu, t.Seed, row.Model_Digest)
                : null,
        };
    }

    /// <summary>
    /// A station works one job at a time and asks for the next only when it holds none, so jobs still claimed or running
    /// for it were lost (a restart, a dropped long-poll answer): queue them again, or fail them after the last attempt.
    /// </summary>
    private void RecoverAbandonedJobs(SqliteConnection c, SqliteTransaction tx, Caller station, DateTimeOffset now)
    {
        var abandoned = c.Query<(long Id, long Attempts)>("""
            SELECT id, attempts FROM jobs WHERE station_id = @station AND state IN (@claimed, @running)
            """, new { station = station.Id, claimed = JobStates.Claimed, running = JobStates.Running }, tx).AsList();
        foreach (var (id, attempts) in abandoned)
        {
            log.LogWarning("job {Job}: station {Station} asked for new work while holding it", id, station.Name);
            RequeueOrFail(c, tx, id, attempts, $"station: the job was lost {attempts} times before a result arrived", now);
        }
    }

    /// <summary>Fails or re-queues jobs whose lease ran out at stations that never came back to ask for work.</summary>
    public int SweepExpiredLeases()
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var expired = c.Query<(long Id, long Attempts)>("""
            SELECT id, attempts FROM jobs WHERE state IN (@claimed, @running) AND lease_until < @now
            """, new { claimed = JobStates.Claimed, running = JobStates.Running, now }, tx).AsList();
        foreach (var (id, attempts) in expired)
            RequeueOrFail(c, tx, id, attempts, $"lease: no report from the station within the lease, {attempts} attempts", now);
        // Queueing it again would only park it at the same station again: no decision in time is a failure.
        var undecided = c.Query<long>("SELECT id FROM jobs WHERE state = @awaiting AND lease_until < @now",
            new { awaiting = JobStates.AwaitingApproval, now }, tx).AsList();
        foreach (var id in undecided)
            Finish(c, tx, id, JobStates.Failed, "approval: the station made no decision on the train within the time it asked for", null, null, null, now);
        var unreleased = c.Query<long>("SELECT id FROM jobs WHERE state = @awaiting AND lease_until < @now",
            new { awaiting = JobStates.AwaitingRelease, now }, tx).AsList();
        foreach (var id in unreleased)
            Finish(c, tx, id, JobStates.Failed, "release: the station's operator did not release the result within the time the station asked for", null, null, null, now);
        Commit(tx);
        var swept = expired.Count + undecided.Count + unreleased.Count;
        if (swept > 0) signal.Notify();
        return swept;
    }

    /// <summary>
    /// Closes training rounds whose deadline passed: with the quorum met, the stragglers' jobs fail and the round merges
    /// what arrived; without it, the round and the run fail.
    /// </summary>
    public int SweepRoundDeadlines()
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var due = c.Query<(long RunId, long Round, string Training)>("""
            SELECT rd.run_id, rd.number, r.training_json FROM rounds rd JOIN runs r ON r.id = rd.run_id
            WHERE rd.state = 'open' AND rd.deadline_at IS NOT NULL AND rd.deadline_at < @now AND r.training_json IS NOT NULL
            """, new { now }, tx).AsList();
        foreach (var (runId, round, trainingJson) in due)
        {
            var settings = JsonSerializer.Deserialize<TrainingSettings>(trainingJson, ProtocolJson.Api)!;
            var jobs = c.Query<(long Id, string State)>("SELECT id, state FROM jobs WHERE run_id = @runId AND round = @round", new { runId, round }, tx).AsList();
            var succeeded = jobs.Count(j => j.State == JobStates.Succeeded);
            var quorum = Merging.RoundStrategy.Quorum(settings, jobs.Count);
            var open = jobs.Where(j => !JobStates.IsTerminal(j.State)).Select(j => j.Id).ToList();
            if (succeeded >= quorum)
            {
                // The last of these closes the round, which then merges.
                foreach (var id in open)
                    Finish(c, tx, id, JobStates.Failed, $"straggler: round {round} closed at its deadline with {succeeded} of {jobs.Count} stations", null, null, null, now);
            }
            else
            {
                foreach (var id in open)
                    c.Execute("UPDATE jobs SET state = @failed, error = @error, finished_at = @now, lease_until = NULL WHERE id = @id",
                        new { failed = JobStates.Failed, error = $"round {round} passed its deadline without a quorum", now, id }, tx);
                FailRound(c, tx, runId, (int)round, $"quorum: {succeeded} of {jobs.Count} stations contributed by the deadline, {quorum} needed", now);
            }
        }
        Commit(tx);
        if (due.Count > 0) signal.Notify();
        return due.Count;
    }

    /// <summary>Longest a station may hold a job while its operator decides.</summary>
    public static readonly TimeSpan MaxApprovalWait = TimeSpan.FromDays(14);

    /// <summary>The station holds the job until the train is approved there; the lease is extended to the wait it asks for.</summary>
    public JobReportOutcome MarkAwaitingApproval(Caller station, long jobId, JobAwaitingApproval report)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var wait = TimeSpan.FromSeconds(Math.Clamp(report.WaitSeconds, 1, MaxApprovalWait.TotalSeconds));
        var changed = c.Execute("""
            UPDATE jobs SET state = @awaiting, lease_until = @lease, error = @reason
            WHERE id = @id AND station_id = @station AND state IN (@claimed, @awaiting)
            """, new { awaiting = JobStates.AwaitingApproval, claimed = JobStates.Claimed, lease = now + wait,
                       reason = $"approval: {report.Reason}", id = jobId, station = station.Id }, tx);
        if (changed == 0)
            return Exists(c, station, jobId) ? JobReportOutcome.Conflict : JobReportOutcome.NotFound;
        RecordFor(c, tx, station, LedgerKinds.ApprovalRecorded, station.Name, $"job/{jobId}", new JsonObject
        {
            ["decision"] = "pending", ["reason"] = report.Reason,
        });
        Commit(tx);
        return JobReportOutcome.Accepted;
    }

    /// <summary>
    /// The train ran and the station holds its checked result until the station's operator releases it; the lease is
    /// extended to the wait the station asks for, as for an approval.
    /// </summary>
    public JobReportOutcome MarkAwaitingRelease(Caller station, long jobId, JobAwaitingRelease report)
    {
        using var c = db.Open();
        var wait = TimeSpan.FromSeconds(Math.Clamp(report.WaitSeconds, 1, MaxApprovalWait.TotalSeconds));
        var changed = c.Execute("""
            UPDATE jobs SET state = @awaiting, lease_until = @lease, error = @reason
            WHERE id = @id AND station_id = @station AND state IN (@running, @awaiting)
            """, new { awaiting = JobStates.AwaitingRelease, running = JobStates.Running, lease = DateTimeOffset.UtcNow + wait,
                       reason = $"release: {report.Reason}", id = jobId, station = station.Id });
        if (changed == 0)
            return Exists(c, station, jobId) ? JobReportOutcome.Conflict : JobReportOutcome.NotFound;
        return JobReportOutcome.Accepted;
    }

    /// <summary>A job its station lost goes back to the queue, unless it has had its last attempt.</summary>
    private void RequeueOrFail(SqliteConnection c, SqliteTransaction tx, long id, long attempts, string failure, DateTimeOffset now)
    {
        if (attempts < MaxAttempts)
            c.Execute("UPDATE jobs SET state = @queued, lease_until = NULL WHERE id = @id", new { queued = JobStates.Queued, id }, tx);
        else
            Finish(c, tx, id, JobStates.Failed, failure, null, null, null, now);
    }

    /// <summary>The station starts the train; with the approval it ran under, recorded in the ledger as the station's statement.</summary>
    public JobReportOutcome MarkStarted(Caller station, long jobId, JobStarted? report = null)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var lease = c.QuerySingleOrDefault<string?>("""
            SELECT t.manifest_json FROM jobs j JOIN runs r ON r.id = j.run_id JOIN trains t ON t.id = r.train_id
            WHERE j.id = @id AND j.station_id = @station AND j.state IN (@claimed, @awaiting)
            """, new { id = jobId, station = station.Id, claimed = JobStates.Claimed, awaiting = JobStates.AwaitingApproval }, tx) is { } manifestJson
            ? now + TimeSpan.FromSeconds(JsonSerializer.Deserialize<TrainManifest>(manifestJson, ProtocolJson.Options)!.Resources.TimeoutSeconds) + LeaseMargin
            : (DateTimeOffset?)null;
        if (lease is null)
            return Exists(c, station, jobId) ? JobReportOutcome.Conflict : JobReportOutcome.NotFound;
        c.Execute("UPDATE jobs SET state = @running, started_at = @now, lease_until = @lease, error = NULL WHERE id = @id",
            new { running = JobStates.Running, now, lease, id = jobId }, tx);
        if (report?.Approval is { } approval)
            RecordFor(c, tx, station, LedgerKinds.ApprovalRecorded, station.Name, $"job/{jobId}", new JsonObject
            {
                ["decision"] = "approved", ["digest"] = approval.Digest, ["by"] = approval.DecidedBy,
                ["at"] = approval.DecidedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture), ["reason"] = approval.Reason,
                ["signers"] = new JsonArray([.. approval.Signers.Select(k => JsonValue.Create(k))]),
            });
        Commit(tx);
        return JobReportOutcome.Accepted;
    }

    /// <summary>Stores a station's result after checking it against the manifest, the hub's own copy of the contract.</summary>
    public (JobReportOutcome Outcome, IReadOnlyList<ValidationError> Errors) Complete(Caller station, long jobId, JobResultUpload upload)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var job = OpenJob(c, tx, station, jobId);
        if (job.Outcome != JobReportOutcome.Accepted) return (job.Outcome, []);
        var manifest = JsonSerializer.Deserialize<TrainManifest>(job.ManifestJson!, ProtocolJson.Options)!;
        var now = DateTimeOffset.UtcNow;
        var errors = upload.Statistics is null
            ? [new ValidationError("$.statistics", "is missing")]
            : StatisticsResultValidator.Validate(manifest, upload.Statistics);
        if (errors.Count > 0)
        {
            RecordFor(c, tx, station, LedgerKinds.JobRefused, "hub", $"job/{jobId}", new JsonObject
            {
                ["stage"] = "hub", ["reason"] = "the result does not match the train manifest",
            });
            Finish(c, tx, jobId, JobStates.Failed, "hub: result refused: " + string.Join("; ", errors), null, null, upload.Timings, now, upload.Inputs);
            Commit(tx);
            return (JobReportOutcome.Refused, errors);
        }
        string payload, digest;
        if (manifest.Kind == TrainKinds.Training)
        {
            // The result of a training job is its update, uploaded before: the hub keeps the digest it computed itself.
            var received = c.QuerySingleOrDefault<string?>("SELECT digest FROM updates WHERE job_id = @jobId", new { jobId }, tx);
            var problem = received is null ? "no model update was uploaded for this job"
                : upload.Update is null ? "the result names no model update"
                : upload.Update.Digest != received ? $"the result names update {upload.Update.Digest}, but the hub received {received}"
                : upload.Update.Samples <= 0 ? "the update's sample count must be positive"
                : upload.Update.Metrics.Any(m => !double.IsFinite(m.Value)) ? "the update's metrics must be finite numbers"
                : null;
            if (problem is not null)
            {
                RecordFor(c, tx, station, LedgerKinds.JobRefused, "hub", $"job/{jobId}", new JsonObject { ["stage"] = "hub", ["reason"] = problem });
                Finish(c, tx, jobId, JobStates.Failed, "hub: result refused: " + problem, null, null, upload.Timings, now, upload.Inputs);
                Commit(tx);
                return (JobReportOutcome.Refused, [new ValidationError("$.update", problem)]);
            }
            payload = JsonSerializer.Serialize(upload.Update, ProtocolJson.Api);
            digest = received!;
        }
        else
        {
            payload = JsonSerializer.Serialize(upload.Statistics, ProtocolJson.Options);
            digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(payload)));
        }
        c.Execute("INSERT INTO results (job_id, digest, payload_json, received_at) VALUES (@jobId, @digest, @payload, @now)",
            new { jobId, digest, payload, now }, tx);
        var entry = new JsonObject { ["digest"] = digest };
        // The station's own statement of its small-cell suppression: k and how many cells it withheld from this result.
        if (upload.Statistics!.Disclosure is { } disclosure)
            entry["suppression"] = new JsonObject { ["minCellCount"] = disclosure.MinCellCount, ["suppressedCells"] = disclosure.SuppressedCells };
        RecordFor(c, tx, station, LedgerKinds.ResultUploaded, station.Name, $"job/{jobId}", entry);
        Finish(c, tx, jobId, JobStates.Succeeded, null, null, null, upload.Timings, now, upload.Inputs);
        Commit(tx);
        return (JobReportOutcome.Accepted, []);
    }

    public JobReportOutcome Fail(Caller station, long jobId, JobFailureReport report)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var job = OpenJob(c, tx, station, jobId);
        if (job.Outcome != JobReportOutcome.Accepted) return job.Outcome;
        var stage = string.IsNullOrWhiteSpace(report.Stage) ? "station" : report.Stage.Trim();
        // A train that ran and failed (or whose result was withheld) was executed; one stopped before it ran was refused by the station.
        RecordFor(c, tx, station, stage is "run" or "collect" or "release" ? LedgerKinds.JobExecuted : LedgerKinds.JobRefused, station.Name, $"job/{jobId}", new JsonObject
        {
            ["stage"] = stage, ["outcome"] = "failed", ["exitCode"] = report.ExitCode,
        });
        Finish(c, tx, jobId, JobStates.Failed, $"{stage}: {report.Reason}", report.ExitCode, Truncate(report.LogTail, 8000), report.Timings, DateTimeOffset.UtcNow, report.Inputs);
        Commit(tx);
        return JobReportOutcome.Accepted;
    }

    /// <summary>The global model digest a station's open job starts from (null in a round without one).</summary>
    public (JobReportOutcome Outcome, string? Digest) GlobalModelOf(Caller station, long jobId)
    {
        using var c = db.Open();
        var row = c.QuerySingleOrDefault<(string State, string? Digest)?>("""
            SELECT j.state, rd.model_digest FROM jobs j JOIN rounds rd ON rd.run_id = j.run_id AND rd.number = j.round
            WHERE j.id = @jobId AND j.station_id = @station
            """, new { jobId, station = station.Id });
        if (row is not { } r) return (JobReportOutcome.NotFound, null);
        return JobStates.IsTerminal(r.State) ? (JobReportOutcome.Conflict, null) : (JobReportOutcome.Accepted, r.Digest);
    }

    /// <summary>The manifest of a station's open job of a training train.</summary>
    public (TrainManifest? Manifest, JobReportOutcome Outcome) TrainingManifestOf(Caller station, long jobId)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var (outcome, json) = OpenJob(c, tx, station, jobId);
        if (outcome != JobReportOutcome.Accepted) return (null, outcome);
        var manifest = JsonSerializer.Deserialize<TrainManifest>(json!, ProtocolJson.Options)!;
        return manifest.Kind == TrainKinds.Training ? (manifest, outcome) : (null, JobReportOutcome.Conflict);
    }

    /// <summary>Records the digest of the update received for a job (a re-upload replaces it, until the result is in).</summary>
    public void RecordUpdate(long jobId, string digest, long bytes)
    {
        using var c = db.Open();
        c.Execute("""
            INSERT INTO updates (job_id, digest, bytes, received_at) VALUES (@jobId, @digest, @bytes, @now)
            ON CONFLICT (job_id) DO UPDATE SET digest = excluded.digest, bytes = excluded.bytes, received_at = excluded.received_at
            """, new { jobId, digest, bytes, now = DateTimeOffset.UtcNow });
    }

    private static (JobReportOutcome Outcome, string? ManifestJson) OpenJob(SqliteConnection c, SqliteTransaction tx, Caller station, long jobId)
    {
        var job = c.QuerySingleOrDefault<(string State, string Manifest)>("""
            SELECT j.state, t.manifest_json FROM jobs j JOIN runs r ON r.id = j.run_id JOIN trains t ON t.id = r.train_id
            WHERE j.id = @jobId AND j.station_id = @station
            """, new { jobId, station = station.Id }, tx);
        if (job.State is null) return (JobReportOutcome.NotFound, null);
        return job.State is JobStates.Claimed or JobStates.Running or JobStates.AwaitingApproval or JobStates.AwaitingRelease
            ? (JobReportOutcome.Accepted, job.Manifest) : (JobReportOutcome.Conflict, null);
    }

    private static bool Exists(SqliteConnection c, Caller station, long jobId) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM jobs WHERE id = @jobId AND station_id = @station", new { jobId, station = station.Id }) > 0;

    /// <summary>Puts a job in a terminal state and, if it was the round's last open job, closes the round.</summary>
    private void Finish(SqliteConnection c, SqliteTransaction tx, long jobId, string state, string? error, int? exitCode, string? logTail, JobTimings? timings, DateTimeOffset now,
        IReadOnlyList<JobInputSummary>? inputs = null)
    {
        c.Execute("""
            UPDATE jobs SET state = @state, error = @error, exit_code = @exitCode, log_tail = @logTail, timings_json = @timings,
                            inputs_json = @inputs, finished_at = @now, lease_until = NULL
            WHERE id = @jobId
            """, new { state, error, exitCode, logTail, timings = timings is null ? null : JsonSerializer.Serialize(timings, ProtocolJson.Options),
                       inputs = inputs is null ? null : JsonSerializer.Serialize(inputs, ProtocolJson.Options), now, jobId }, tx);
        var (runId, round) = c.QuerySingle<(long, long)>("SELECT run_id, round FROM jobs WHERE id = @jobId", new { jobId }, tx);
        var open = c.ExecuteScalar<long>("SELECT COUNT(*) FROM jobs WHERE run_id = @runId AND round = @round AND state NOT IN (@succeeded, @failed)",
            new { runId, round, succeeded = JobStates.Succeeded, failed = JobStates.Failed }, tx);
        if (open == 0) CloseRound(c, tx, runId, (int)round, now);
    }

    private void CloseRound(SqliteConnection c, SqliteTransaction tx, long runId, int round, DateTimeOffset now)
    {
        var manifest = JsonSerializer.Deserialize<TrainManifest>(c.QuerySingle<string>(
            "SELECT t.manifest_json FROM runs r JOIN trains t ON t.id = r.train_id WHERE r.id = @runId", new { runId }, tx), ProtocolJson.Options)!;
        if (manifest.Kind == TrainKinds.Training)
        {
            // Merging reads every update and may take seconds: it happens outside this transaction (RoundMerger),
            // which also picks up rounds left merging by a hub that stopped.
            c.Execute("UPDATE rounds SET state = @merging WHERE run_id = @runId AND number = @round", new { merging = RoundStates.Merging, runId, round }, tx);
            return;
        }
        var results = c.Query<(string Station, string Payload)>("""
            SELECT s.name, res.payload_json FROM jobs j JOIN results res ON res.job_id = j.id JOIN identities s ON s.id = j.station_id
            WHERE j.run_id = @runId AND j.round = @round AND j.state = @succeeded ORDER BY s.name
            """, new { runId, round, succeeded = JobStates.Succeeded }, tx)
            .Select(r => (r.Station, JsonSerializer.Deserialize<StatisticsResult>(r.Payload, ProtocolJson.Options)!))
            .ToList();
        if (results.Count == 0)
        {
            FailRound(c, tx, runId, round, "no station returned a result", now);
            return;
        }
        string pooled;
        try
        {
            pooled = JsonSerializer.Serialize(StatisticsPooling.Pool(manifest, results), ProtocolJson.Options);
        }
        catch (Exception e) when (e is OverflowException or ArgumentException or ProtocolValidationException)
        {
            // e.g. sums past the range of a double: the stations' results stay stored, the round says why it has no total.
            FailRound(c, tx, runId, round, "pooling failed: " + e.Message, now);
            return;
        }
        c.Execute("UPDATE rounds SET state = 'completed', finished_at = @now, pooled_json = @pooled WHERE run_id = @runId AND number = @round",
            new { now, pooled, runId, round }, tx);
        var inputs = c.Query<(string Station, string Digest)>("""
            SELECT s.name, res.digest FROM jobs j JOIN results res ON res.job_id = j.id JOIN identities s ON s.id = j.station_id
            WHERE j.run_id = @runId AND j.round = @round AND j.state = @succeeded ORDER BY s.name
            """, new { runId, round, succeeded = JobStates.Succeeded }, tx);
        var merged = new JsonObject();
        foreach (var (name, resultDigest) in inputs) merged[name] = resultDigest;
        ledger.Record(c, tx, LedgerKinds.MergeCompleted, "hub", $"run/{runId}/round/{round}", new JsonObject
        {
            ["results"] = merged, ["pooled"] = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(pooled))),
        });
        var rounds = c.ExecuteScalar<long>("SELECT rounds FROM runs WHERE id = @runId", new { runId }, tx);
        if (round < rounds)
        {
            var stations = c.Query<long>("SELECT station_id FROM jobs WHERE run_id = @runId AND round = @round", new { runId, round }, tx).AsList();
            RunStore.QueueRound(c, tx, runId, round + 1, stations, now);
            c.Execute("UPDATE runs SET current_round = @next WHERE id = @runId", new { next = round + 1, runId }, tx);
            signal.Notify();
        }
        else
            c.Execute("UPDATE runs SET state = @completed, finished_at = @now WHERE id = @runId", new { completed = RunStates.Completed, now, runId }, tx);
        log.LogInformation("run {Run} round {Round} pooled from {Count} stations", runId, round, results.Count);
    }

    internal static void FailRound(SqliteConnection c, SqliteTransaction tx, long runId, int round, string error, DateTimeOffset now, ILogger log)
    {
        c.Execute("UPDATE rounds SET state = 'failed', finished_at = @now, error = @error WHERE run_id = @runId AND number = @round", new { now, error, runId, round }, tx);
        c.Execute("UPDATE runs SET state = @failed, finished_at = @now WHERE id = @runId", new { failed = RunStates.Failed, now, runId }, tx);
        log.LogWarning("run {Run} round {Round} failed: {Error}", runId, round, error);
    }

    private void FailRound(SqliteConnection c, SqliteTransaction tx, long runId, int round, string error, DateTimeOffset now) =>
        FailRound(c, tx, runId, round, error, now, log);

    /// <summary>
    /// Commits, then wakes the round merger: a round this transaction closed becomes visible to it only after the commit
    /// (waking it inside the transaction let it look too early and sleep through the round).
    /// </summary>
    private void Commit(SqliteTransaction tx)
    {
        tx.Commit();
        merges.Notify();
    }

    /// <summary>Records an entry about one of the station's jobs and notes it as the station's, so the station can collect its receipt.</summary>
    private void RecordFor(SqliteConnection c, SqliteTransaction tx, Caller station, string kind, string actor, string subject, JsonObject payload) =>
        StationReceipts.Keep(c, tx, station.Id, ledger.Record(c, tx, kind, actor, subject, payload));

    private static string? Truncate(string? s, int max) => s is null || s.Length <= max ? s : s[^max..];

    private sealed record ClaimRow(long Id, long Run_Id, long Round, long Train_Id, string Name, string Version, string Repository, string Digest,
        string Manifest_Json, string Parameters_Json, string Train_Owner, string Run_Owner, long Rounds, string? Training_Json, string? Model_Digest);
}
