using System.IO.Compression;
using System.Text.Json;
using Dapper;
using System.Text.Json.Nodes;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Approval;

/// <summary>A job the station holds at the hub until its train's image is decided on.</summary>
public sealed record ParkedJob(JobAssignment Job, string Digest, DateTimeOffset ParkedAt, DateTimeOffset WaitUntil);

/// <summary>
/// The station's approvals: one row per exact image digest with its inspection report, every decision kept as an event
/// (who, when, why), the jobs parked until a decision, and the file index of each inspected image for later diffs.
/// </summary>
public sealed class ApprovalStore(StationDatabase db)
{
    private const string Columns = """
        digest AS Digest, repository AS Repository, train AS Train, version AS Version, kind AS Kind, author AS Author, state AS State,
        requested_at AS RequestedAt, decided_by AS DecidedBy, decided_at AS DecidedAt, reason AS Reason, signers_json AS SignersJson, report_json AS ReportJson
        """;

    public ApprovalInfo? Find(string digest, bool withReport = false)
    {
        using var c = db.Open();
        var row = c.QuerySingleOrDefault<Row>($"SELECT {Columns} FROM approvals WHERE digest = @digest", new { digest });
        return row?.ToInfo(WaitingJobs(c, digest), withReport);
    }

    public IReadOnlyList<ApprovalInfo> List(string? state = null)
    {
        using var c = db.Open();
        return c.Query<Row>($"SELECT {Columns} FROM approvals WHERE @state IS NULL OR state = @state ORDER BY requested_at DESC", new { state })
            .Select(r => r.ToInfo(WaitingJobs(c, r.Digest), withReport: false)).ToList();
    }

    /// <summary>The signers the station verified when it inspected the digest.</summary>
    public IReadOnlyList<string> Signers(string digest)
    {
        using var c = db.Open();
        var json = c.QuerySingleOrDefault<string>("SELECT signers_json FROM approvals WHERE digest = @digest", new { digest });
        return json is null ? [] : JsonSerializer.Deserialize<List<ImageSigner>>(json, ProtocolJson.Api)!.Select(s => s.KeyId).ToList();
    }

    /// <summary>Records an inspected image as waiting for a decision (an existing record keeps its state; its report is renewed).</summary>
    public ApprovalInfo RecordInspection(InspectionReport report)
    {
        using var c = db.Open();
        c.Execute("""
            INSERT INTO approvals (digest, repository, train, version, kind, author, state, requested_at, signers_json, report_json)
            VALUES (@digest, @repository, @train, @version, @kind, @author, @pending, @now, @signers, @report)
            ON CONFLICT (digest) DO UPDATE SET report_json = excluded.report_json, signers_json = excluded.signers_json
            """, new
        {
            digest = report.Digest, repository = report.Repository, train = report.Train, version = report.Version, kind = report.Kind, author = report.Author,
            pending = ApprovalStates.Pending, now = DateTimeOffset.UtcNow,
            signers = JsonSerializer.Serialize(report.Signers, ProtocolJson.Api), report = JsonSerializer.Serialize(report, ProtocolJson.Api),
        });
        return Find(report.Digest)!;
    }

    /// <summary>Approves or rejects a digest (an approved one may be rejected later: that revokes it). Null when the digest was never inspected here.</summary>
    public ApprovalInfo? Decide(string digest, string state, string decidedBy, string? reason)
    {
        if (state is not (ApprovalStates.Approved or ApprovalStates.Rejected)) throw new ArgumentException($"'{state}' is not a decision", nameof(state));
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var changed = c.Execute("UPDATE approvals SET state = @state, decided_by = @decidedBy, decided_at = @now, reason = @reason WHERE digest = @digest",
            new { digest, state, decidedBy, now, reason }, tx);
        if (changed == 0) return null;
        c.Execute("INSERT INTO approval_events (digest, decision, decided_by, decided_at, reason) VALUES (@digest, @state, @decidedBy, @now, @reason)",
            new { digest, state, decidedBy, now, reason }, tx);
        var (train, version, repository) = c.QuerySingle<(string, string, string)>("SELECT train, version, repository FROM approvals WHERE digest = @digest", new { digest }, tx);
        StationAudit.Record(c, tx, state == ApprovalStates.Approved ? AuditKinds.ApprovalApproved : AuditKinds.ApprovalRejected, null, null, train, version, digest,
            decidedBy, new JsonObject
            {
                // Policy rules decide under the name policy:RULE (ApprovalGate); anything else is a person's operator token.
                ["by"] = decidedBy, ["via"] = decidedBy.StartsWith("policy:", StringComparison.Ordinal) ? "policy" : "person",
                ["reason"] = reason, ["repository"] = repository, ["waitingJobs"] = new JsonArray([.. WaitingJobs(c, digest, tx).Select(j => JsonValue.Create(j))]),
            });
        tx.Commit();
        return Find(digest);
    }

    /// <summary>Every decision ever taken on the digest, oldest first.</summary>
    public IReadOnlyList<(string Decision, string DecidedBy, DateTimeOffset DecidedAt, string? Reason)> History(string digest)
    {
        using var c = db.Open();
        return c.Query<(string, string, DateTimeOffset, string?)>(
            "SELECT decision, decided_by, decided_at, reason FROM approval_events WHERE digest = @digest ORDER BY id", new { digest }).AsList();
    }

    /// <summary>The most recently approved other version of the same train, to diff against.</summary>
    public (string Digest, string Version)? LastApproved(string repository, string exceptDigest)
    {
        using var c = db.Open();
        var row = c.QuerySingleOrDefault<(string Digest, string Version)?>("""
            SELECT digest, version FROM approvals WHERE repository = @repository AND state = @approved AND digest <> @exceptDigest
            ORDER BY decided_at DESC LIMIT 1
            """, new { repository, approved = ApprovalStates.Approved, exceptDigest });
        return row;
    }

    public void SaveFiles(string digest, IReadOnlyDictionary<string, string> files)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
            JsonSerializer.Serialize(gzip, files);
        using var c = db.Open();
        c.Execute("INSERT INTO image_files (digest, files_json) VALUES (@digest, @files) ON CONFLICT (digest) DO UPDATE SET files_json = excluded.files_json",
            new { digest, files = buffer.ToArray() });
    }

    public IReadOnlyDictionary<string, string>? LoadFiles(string digest)
    {
        using var c = db.Open();
        var bytes = c.QuerySingleOrDefault<byte[]>("SELECT files_json FROM image_files WHERE digest = @digest", new { digest });
        if (bytes is null) return null;
        using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        return JsonSerializer.Deserialize<Dictionary<string, string>>(gzip);
    }

    public void Park(JobAssignment job, string digest, DateTimeOffset waitUntil)
    {
        using var c = db.Open();
        c.Execute("""
            INSERT INTO parked_jobs (job_id, digest, assignment_json, parked_at, wait_until) VALUES (@id, @digest, @json, @now, @waitUntil)
            ON CONFLICT (job_id) DO NOTHING
            """, new { id = job.JobId, digest, json = JsonSerializer.Serialize(job, ProtocolJson.Api), now = DateTimeOffset.UtcNow, waitUntil });
    }

    public void Unpark(long jobId)
    {
        using var c = db.Open();
        c.Execute("DELETE FROM parked_jobs WHERE job_id = @jobId", new { jobId });
    }

    public IReadOnlyList<ParkedJob> Parked()
    {
        using var c = db.Open();
        return c.Query<(string Json, string Digest, DateTimeOffset ParkedAt, DateTimeOffset WaitUntil)>(
                "SELECT assignment_json, digest, parked_at, wait_until FROM parked_jobs ORDER BY job_id")
            .Select(r => new ParkedJob(JsonSerializer.Deserialize<JobAssignment>(r.Json, ProtocolJson.Api)!, r.Digest, r.ParkedAt, r.WaitUntil)).ToList();
    }

    private static List<long> WaitingJobs(Microsoft.Data.Sqlite.SqliteConnection c, string digest, Microsoft.Data.Sqlite.SqliteTransaction? tx = null) =>
        c.Query<long>("SELECT job_id FROM parked_jobs WHERE digest = @digest ORDER BY job_id", new { digest }, tx).AsList();

    private sealed record Row(string Digest, string Repository, string Train, string Version, string Kind, string Author, string State,
        DateTimeOffset RequestedAt, string? DecidedBy, DateTimeOffset? DecidedAt, string? Reason, string SignersJson, string ReportJson)
    {
        public ApprovalInfo ToInfo(IReadOnlyList<long> waiting, bool withReport) =>
            new(Digest, Repository, Train, Version, Kind, Author, State, RequestedAt, DecidedBy, DecidedAt, Reason, waiting,
                withReport ? JsonSerializer.Deserialize<InspectionReport>(ReportJson, ProtocolJson.Api) : null);
    }
}
