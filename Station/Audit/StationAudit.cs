using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Audit;

/// <summary>Kinds of station audit records.</summary>
public static class AuditKinds
{
    /// <summary>A declared input (a SQL-on-FHIR view or whole resources) was written for a job, with its row count.</summary>
    public const string ViewMaterialized = "view.materialized";
    public const string ApprovalApproved = "approval.approved";
    public const string ApprovalRejected = "approval.rejected";
    /// <summary>A job's result (statistics, or a training job's metrics and sample count) was handed to the hub.</summary>
    public const string ResultReleased = "result.released";
    /// <summary>A checked result was kept at the station for its operator's release (Station:Release:Manual), with what it holds and what was checked.</summary>
    public const string ResultHeld = "result.held";
    /// <summary>A training job's model update was handed to the hub.</summary>
    public const string UpdateReleased = "update.released";
    /// <summary>The station refused a job before its train ran (inspection, signatures, approval, limits, budget).</summary>
    public const string JobRefused = "job.refused";
    /// <summary>A job whose train ran failed (exit code, timeout, output refused), or the hub refused what was released.</summary>
    public const string JobFailed = "job.failed";
    /// <summary>The hub served a receipt that does not check out, or one that contradicts a receipt kept before.</summary>
    public const string ReceiptRefused = "receipt.refused";
}

/// <summary>Which audit records to list; every filter given must match. Newest first, at most <see cref="Limit"/>, before id <see cref="Before"/>.</summary>
public sealed record AuditFilter(long? JobId = null, string? Train = null, string? Kind = null, long? Before = null, int Limit = 200)
{
    public const int MaxLimit = 1000;
}

/// <summary>
/// The station's own audit log in station.db: what it gave trains, what was decided, what it let out, what it refused.
/// Written by the code paths that do those things, never rewritten; read by the operator's API, CLI and web UI.
/// </summary>
public sealed class StationAudit(StationDatabase db)
{
    /// <summary>The station itself, as the actor of what it does on its own.</summary>
    public const string StationActor = "station";

    /// <summary>Records an event about a job.</summary>
    public StationAuditRecord Record(string kind, JobAssignment? job, JsonObject details, string actor = StationActor, string? digest = null)
    {
        using var c = db.Open();
        return Record(c, null, kind, job?.JobId, job?.RunId, job?.TrainName, job?.TrainVersion, digest ?? job?.ImageDigest, actor, details);
    }

    /// <summary>Records an event inside the caller's transaction, so it commits with the change it records.</summary>
    public static StationAuditRecord Record(SqliteConnection connection, SqliteTransaction? transaction, string kind, long? jobId, long? runId,
        string? train, string? trainVersion, string? digest, string actor, JsonObject details)
    {
        if (string.IsNullOrWhiteSpace(kind)) throw new ArgumentException("an audit record needs a kind", nameof(kind));
        if (string.IsNullOrWhiteSpace(actor)) throw new ArgumentException("an audit record needs an actor", nameof(actor));
        var at = DateTimeOffset.UtcNow;
        var id = connection.ExecuteScalar<long>("""
            INSERT INTO audit_events (at, kind, job_id, run_id, train, train_version, digest, actor, details_json)
            VALUES (@at, @kind, @jobId, @runId, @train, @trainVersion, @digest, @actor, @details) RETURNING id
            """, new { at, kind, jobId, runId, train, trainVersion, digest, actor, details = details.ToJsonString() }, transaction);
        return new StationAuditRecord(id, at, kind, jobId, runId, train, trainVersion, digest, actor, (JsonObject)details.DeepClone());
    }

    /// <summary>The records matching <paramref name="filter"/>, newest first.</summary>
    public IReadOnlyList<StationAuditRecord> List(AuditFilter filter)
    {
        if (filter.Limit is < 1 or > AuditFilter.MaxLimit) throw new ArgumentException($"the limit must be 1 to {AuditFilter.MaxLimit}", nameof(filter));
        using var c = db.Open();
        return c.Query<Row>("""
            SELECT id AS Id, at AS At, kind AS Kind, job_id AS JobId, run_id AS RunId, train AS Train, train_version AS TrainVersion,
                   digest AS Digest, actor AS Actor, details_json AS DetailsJson
            FROM audit_events
            WHERE (@jobId IS NULL OR job_id = @jobId) AND (@train IS NULL OR train = @train) AND (@kind IS NULL OR kind = @kind)
              AND (@before IS NULL OR id < @before)
            ORDER BY id DESC LIMIT @limit
            """, new { jobId = filter.JobId, train = filter.Train, kind = filter.Kind, before = filter.Before, limit = filter.Limit })
            .Select(r => new StationAuditRecord(r.Id, r.At, r.Kind, r.JobId, r.RunId, r.Train, r.TrainVersion, r.Digest, r.Actor,
                JsonNode.Parse(r.DetailsJson)!.AsObject()))
            .ToList();
    }

    private sealed record Row(long Id, DateTimeOffset At, string Kind, long? JobId, long? RunId, string? Train, string? TrainVersion,
        string? Digest, string Actor, string DetailsJson);
}
