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
/// the report that finishes a round also pools it and opens the next round or ends the run.
/// </summary>
public sealed class JobQueue(HubDatabase db, JobSignal signal, LedgerStore ledger, ILogger<JobQueue> log)
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
                   towner.name AS train_owner, rowner.name AS run_owner
            FROM jobs j JOIN runs r ON r.id = j.run_id JOIN trains t ON t.id = r.train_id
                 JOIN identities towner ON towner.id = t.owner_id JOIN identities rowner ON rowner.id = r.owner_id
            WHERE j.station_id = @station AND j.state = @queued
            ORDER BY j.id LIMIT 1
            """, new { station = station.Id, queued = JobStates.Queued }, tx);
        if (row is null)
        {
            tx.Commit();
            return null;
        }
        var manifest = JsonSerializer.Deserialize<TrainManifest>(row.Manifest_Json, ProtocolJson.Options)!;
        c.Execute("UPDATE jobs SET state = @claimed, attempts = attempts + 1, claimed_at = @now, lease_until = @lease WHERE id = @id",
            new { claimed = JobStates.Claimed, now, lease = now + TimeSpan.FromSeconds(manifest.Resources.TimeoutSeconds) + LeaseMargin, id = row.Id }, tx);
        ledger.Record(c, tx, LedgerKinds.JobDispatched, "hub", $"job/{row.Id}", new JsonObject
        {
            ["run"] = $"run/{row.Run_Id}", ["round"] = row.Round, ["station"] = station.Name, ["digest"] = row.Digest,
        });
        tx.Commit();
        return new JobAssignment(row.Id, row.Run_Id, (int)row.Round, row.Train_Id, row.Name, row.Version,
            $"{row.Repository}@{row.Digest}", row.Digest, row.Manifest_Json, JsonNode.Parse(row.Parameters_Json)!.AsObject())
        {
            TrainOwner = row.Train_Owner,
            RunOwner = row.Run_Owner,
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
        tx.Commit();
        if (expired.Count + undecided.Count > 0) signal.Notify();
        return expired.Count + undecided.Count;
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
        ledger.Record(c, tx, LedgerKinds.ApprovalRecorded, station.Name, $"job/{jobId}", new JsonObject
        {
            ["decision"] = "pending", ["reason"] = report.Reason,
        });
        tx.Commit();
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
            ledger.Record(c, tx, LedgerKinds.ApprovalRecorded, station.Name, $"job/{jobId}", new JsonObject
            {
                ["decision"] = "approved", ["digest"] = approval.Digest, ["by"] = approval.DecidedBy,
                ["at"] = approval.DecidedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture), ["reason"] = approval.Reason,
                ["signers"] = new JsonArray([.. approval.Signers.Select(k => JsonValue.Create(k))]),
            });
        tx.Commit();
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
            ledger.Record(c, tx, LedgerKinds.JobRefused, "hub", $"job/{jobId}", new JsonObject
            {
                ["stage"] = "hub", ["reason"] = "the result does not match the train manifest",
            });
            Finish(c, tx, jobId, JobStates.Failed, "hub: result refused: " + string.Join("; ", errors), null, null, upload.Timings, now, upload.Inputs);
            tx.Commit();
            return (JobReportOutcome.Refused, errors);
        }
        var payload = JsonSerializer.Serialize(upload.Statistics, ProtocolJson.Options);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(payload)));
        c.Execute("INSERT INTO results (job_id, digest, payload_json, received_at) VALUES (@jobId, @digest, @payload, @now)",
            new { jobId, digest, payload, now }, tx);
        ledger.Record(c, tx, LedgerKinds.ResultUploaded, station.Name, $"job/{jobId}", new JsonObject { ["digest"] = digest });
        Finish(c, tx, jobId, JobStates.Succeeded, null, null, null, upload.Timings, now, upload.Inputs);
        tx.Commit();
        return (JobReportOutcome.Accepted, []);
    }

    public JobReportOutcome Fail(Caller station, long jobId, JobFailureReport report)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var job = OpenJob(c, tx, station, jobId);
        if (job.Outcome != JobReportOutcome.Accepted) return job.Outcome;
        var stage = string.IsNullOrWhiteSpace(report.Stage) ? "station" : report.Stage.Trim();
        // A train that ran and failed was executed; one stopped before it ran was refused by the station.
        ledger.Record(c, tx, stage is "run" or "collect" ? LedgerKinds.JobExecuted : LedgerKinds.JobRefused, station.Name, $"job/{jobId}", new JsonObject
        {
            ["stage"] = stage, ["outcome"] = "failed", ["exitCode"] = report.ExitCode,
        });
        Finish(c, tx, jobId, JobStates.Failed, $"{stage}: {report.Reason}", report.ExitCode, Truncate(report.LogTail, 8000), report.Timings, DateTimeOffset.UtcNow, report.Inputs);
        tx.Commit();
        return JobReportOutcome.Accepted;
    }

    private static (JobReportOutcome Outcome, string? ManifestJson) OpenJob(SqliteConnection c, SqliteTransaction tx, Caller station, long jobId)
    {
        var job = c.QuerySingleOrDefault<(string State, string Manifest)>("""
            SELECT j.state, t.manifest_json FROM jobs j JOIN runs r ON r.id = j.run_id JOIN trains t ON t.id = r.train_id
            WHERE j.id = @jobId AND j.station_id = @station
            """, new { jobId, station = station.Id }, tx);
        if (job.State is null) return (JobReportOutcome.NotFound, null);
        return job.State is JobStates.Claimed or JobStates.Running or JobStates.AwaitingApproval ? (JobReportOutcome.Accepted, job.Manifest) : (JobReportOutcome.Conflict, null);
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

    private void FailRound(SqliteConnection c, SqliteTransaction tx, long runId, int round, string error, DateTimeOffset now)
    {
        c.Execute("UPDATE rounds SET state = 'failed', finished_at = @now, error = @error WHERE run_id = @runId AND number = @round", new { now, error, runId, round }, tx);
        c.Execute("UPDATE runs SET state = @failed, finished_at = @now WHERE id = @runId", new { failed = RunStates.Failed, now, runId }, tx);
        log.LogWarning("run {Run} round {Round} failed: {Error}", runId, round, error);
    }

    private static string? Truncate(string? s, int max) => s is null || s.Length <= max ? s : s[^max..];

    private sealed record ClaimRow(long Id, long Run_Id, long Round, long Train_Id, string Name, string Version, string Repository, string Digest,
        string Manifest_Json, string Parameters_Json, string Train_Owner, string Run_Owner);
}
