using System.Text.Json;
using Dapper;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Jobs;

/// <summary>One job as this station saw it: which train, which run and round, where it stands, when, and why it ended as it did.</summary>
public sealed record StationJob(long JobId, long RunId, int Round, string Train, string Version, string Digest, string State,
    DateTimeOffset ReceivedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Stage, string? Reason, JobTimings? Timings);

/// <summary>
/// The station's own record of the jobs it took from the hub, kept in the station database so its operator can see what
/// ran here without asking the hub. States are the hub's job states (<see cref="JobStates"/>).
/// </summary>
public sealed class JobHistory(StationDatabase db)
{
    /// <summary>A job taken from the hub, or taken up again after a wait: its state goes back to claimed.</summary>
    public void Received(JobAssignment job)
    {
        using var c = db.Open();
        c.Execute("""
            INSERT INTO station_jobs (job_id, run_id, round, train, version, digest, state, received_at)
            VALUES (@JobId, @RunId, @Round, @TrainName, @TrainVersion, @ImageDigest, @claimed, @now)
            ON CONFLICT (job_id) DO UPDATE SET state = excluded.state
            """, new { job.JobId, job.RunId, job.Round, job.TrainName, job.TrainVersion, job.ImageDigest, claimed = JobStates.Claimed, now = DateTimeOffset.UtcNow });
    }

    /// <summary>The job waits for a decision (approval or release) at this station.</summary>
    public void Waiting(long jobId, string state, string reason)
    {
        using var c = db.Open();
        c.Execute("UPDATE station_jobs SET state = @state, reason = @reason WHERE job_id = @jobId", new { jobId, state, reason });
    }

    public void Started(long jobId)
    {
        using var c = db.Open();
        c.Execute("UPDATE station_jobs SET state = @running, started_at = @now, reason = NULL WHERE job_id = @jobId",
            new { jobId, running = JobStates.Running, now = DateTimeOffset.UtcNow });
    }

    /// <summary>The job ended: succeeded, or failed at <paramref name="stage"/> for <paramref name="reason"/>.</summary>
    public void Finished(long jobId, bool succeeded, string? stage, string? reason, JobTimings? timings)
    {
        using var c = db.Open();
        c.Execute("""
            UPDATE station_jobs SET state = @state, finished_at = @now, stage = @stage, reason = @reason, timings_json = COALESCE(@timings, timings_json)
            WHERE job_id = @jobId
            """, new
        {
            jobId, state = succeeded ? JobStates.Succeeded : JobStates.Failed, now = DateTimeOffset.UtcNow, stage, reason,
            timings = timings is null ? null : JsonSerializer.Serialize(timings, ProtocolJson.Api),
        });
    }

    /// <summary>The most recent jobs, newest first.</summary>
    public IReadOnlyList<StationJob> Recent(int limit = 200)
    {
        using var c = db.Open();
        return c.Query<Row>("""
            SELECT job_id AS JobId, run_id AS RunId, round AS Round, train AS Train, version AS Version, digest AS Digest, state AS State,
                   received_at AS ReceivedAt, started_at AS StartedAt, finished_at AS FinishedAt, stage AS Stage, reason AS Reason, timings_json AS TimingsJson
            FROM station_jobs ORDER BY job_id DESC LIMIT @limit
            """, new { limit }).Select(r => r.ToJob()).ToList();
    }

    private sealed record Row(long JobId, long RunId, long Round, string Train, string Version, string Digest, string State,
        DateTimeOffset ReceivedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Stage, string? Reason, string? TimingsJson)
    {
        public StationJob ToJob() => new(JobId, RunId, (int)Round, Train, Version, Digest, State, ReceivedAt, StartedAt, FinishedAt, Stage, Reason,
            TimingsJson is null ? null : JsonSerializer.Deserialize<JobTimings>(TimingsJson, ProtocolJson.Api));
    }
}
