using System.Text.Json;
using Dapper;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Release;

/// <summary>Release states of a held result.</summary>
public static class ReleaseStates
{
    public const string Waiting = "waiting";
    public const string Released = "released";
    public const string Withheld = "withheld";
}

/// <summary>
/// A checked result held in the station's outbox: the job it answers, the result as it would go to the hub, the update
/// file for a training train, and the operator's decision once taken.
/// </summary>
public sealed record HeldResult(long JobId, string Kind, JobAssignment Job, JobResultUpload Result, string? UpdateFile, string State,
    DateTimeOffset HeldAt, DateTimeOffset WaitUntil, string? DecidedBy, DateTimeOffset? DecidedAt, string? Reason);

/// <summary>
/// Results that wait for the operator's release (<see cref="ReleaseOptions.Manual"/>): held by the job worker, released or
/// withheld by the operator, then sent (or the job failed) and removed by the job worker.
/// </summary>
public sealed class ReleaseStore(StationDatabase db)
{
    private const string Columns = """
        job_id AS JobId, kind AS Kind, assignment_json AS AssignmentJson, result_json AS ResultJson, update_file AS UpdateFile, state AS State,
        held_at AS HeldAt, wait_until AS WaitUntil, decided_by AS DecidedBy, decided_at AS DecidedAt, reason AS Reason
        """;

    /// <summary>Holds a job's checked result until the operator decides (holding it again keeps the first hold).</summary>
    public HeldResult Hold(JobAssignment job, string kind, JobResultUpload result, string? updateFile, DateTimeOffset waitUntil)
    {
        using (var c = db.Open())
            c.Execute("""
                INSERT INTO held_results (job_id, kind, assignment_json, result_json, update_file, state, held_at, wait_until)
                VALUES (@jobId, @kind, @assignment, @result, @updateFile, @waiting, @now, @waitUntil)
                ON CONFLICT (job_id) DO NOTHING
                """, new
            {
                jobId = job.JobId, kind, assignment = JsonSerializer.Serialize(job, ProtocolJson.Api), result = JsonSerializer.Serialize(result, ProtocolJson.Api),
                updateFile, waiting = ReleaseStates.Waiting, now = DateTimeOffset.UtcNow, waitUntil,
            });
        return Find(job.JobId)!;
    }

    public HeldResult? Find(long jobId)
    {
        using var c = db.Open();
        return c.QuerySingleOrDefault<Row>($"SELECT {Columns} FROM held_results WHERE job_id = @jobId", new { jobId })?.ToHeld();
    }

    /// <summary>Every held result, oldest first, whatever its state.</summary>
    public IReadOnlyList<HeldResult> All()
    {
        using var c = db.Open();
        return c.Query<Row>($"SELECT {Columns} FROM held_results ORDER BY job_id").Select(r => r.ToHeld()).ToList();
    }

    /// <summary>
    /// Releases or withholds a waiting result, recorded under the operator's name. Null when no result of the job waits
    /// (never held, or decided already: a decision is not taken back once the job worker may have acted on it).
    /// </summary>
    public HeldResult? Decide(long jobId, string state, string decidedBy, string? reason)
    {
        if (state is not (ReleaseStates.Released or ReleaseStates.Withheld)) throw new ArgumentException($"'{state}' is not a release decision", nameof(state));
        if (state == ReleaseStates.Withheld && string.IsNullOrWhiteSpace(reason))
            throw new ArgumentException("withholding a result needs a reason: the researcher reads it as the job's failure", nameof(reason));
        using (var c = db.Open())
        {
            var changed = c.Execute("""
                UPDATE held_results SET state = @state, decided_by = @decidedBy, decided_at = @now, reason = @reason
                WHERE job_id = @jobId AND state = @waiting
                """, new { jobId, state, decidedBy, now = DateTimeOffset.UtcNow, reason = reason?.Trim(), waiting = ReleaseStates.Waiting });
            if (changed == 0) return null;
        }
        return Find(jobId);
    }

    /// <summary>Forgets a held result once the hub was told the outcome.</summary>
    public void Remove(long jobId)
    {
        using var c = db.Open();
        c.Execute("DELETE FROM held_results WHERE job_id = @jobId", new { jobId });
    }

    private sealed record Row(long JobId, string Kind, string AssignmentJson, string ResultJson, string? UpdateFile, string State,
        DateTimeOffset HeldAt, DateTimeOffset WaitUntil, string? DecidedBy, DateTimeOffset? DecidedAt, string? Reason)
    {
        public HeldResult ToHeld() => new(JobId, Kind, JsonSerializer.Deserialize<JobAssignment>(AssignmentJson, ProtocolJson.Api)!,
            JsonSerializer.Deserialize<JobResultUpload>(ResultJson, ProtocolJson.Api)!, UpdateFile, State, HeldAt, WaitUntil, DecidedBy, DecidedAt, Reason);
    }
}
