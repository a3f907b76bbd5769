using System.Text.Json.Nodes;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Tests.Audit;

public sealed class StationAuditTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-audit-").FullName;
    private readonly StationDatabase db;
    private readonly StationAudit audit;

    public StationAuditTests()
    {
        db = new StationDatabase(Path.Combine(dir, "station.db"));
        db.Migrate();
        audit = new StationAudit(db);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    private static JobAssignment Job(long id, string train) =>
        new(id, 100 + id, 1, 7, train, "1.0.0", $"hub/alice/{train}@sha256:{new string('b', 64)}", "sha256:" + new string('b', 64), "{}", new JsonObject());

    private static InspectionReport Report(string digest) => new(
        digest, "alice/x", "x", "1.0.0", TrainKinds.Statistics, "alice", [], [], 0,
        new ImageConfigSummary("65532", [], [], [], [], [], new Dictionary<string, string>(), null),
        new TrainManifest { Name = "x", Version = "1.0.0", Kind = TrainKinds.Statistics }, null, [], DateTimeOffset.UtcNow);

    [Fact]
    public void Records_come_back_newest_first_and_filter_by_job_train_and_kind()
    {
        audit.Record(AuditKinds.ViewMaterialized, Job(1, "cohort-stats"), new JsonObject { ["name"] = "patients", ["rows"] = 120 });
        audit.Record(AuditKinds.ResultReleased, Job(1, "cohort-stats"), new JsonObject { ["digest"] = "sha256:cc", ["bytes"] = 321 });
        audit.Record(AuditKinds.JobRefused, Job(2, "diabetes-risk"), new JsonObject { ["stage"] = "verify", ["reason"] = "unsigned" });

        var all = audit.List(new AuditFilter());
        Assert.Equal([AuditKinds.JobRefused, AuditKinds.ResultReleased, AuditKinds.ViewMaterialized], all.Select(r => r.Kind));
        var view = all[^1];
        Assert.Equal((1L, 101L, "cohort-stats", "1.0.0", StationAudit.StationActor), (view.JobId!.Value, view.RunId!.Value, view.Train, view.TrainVersion, view.Actor));
        Assert.Equal("sha256:" + new string('b', 64), view.Digest);
        Assert.Equal(120, view.Details["rows"]!.GetValue<long>());

        Assert.Equal([AuditKinds.ResultReleased, AuditKinds.ViewMaterialized], audit.List(new AuditFilter(JobId: 1)).Select(r => r.Kind));
        Assert.Equal([AuditKinds.JobRefused], audit.List(new AuditFilter(Train: "diabetes-risk")).Select(r => r.Kind));
        Assert.Equal([1L], audit.List(new AuditFilter(Kind: AuditKinds.ResultReleased)).Select(r => r.JobId!.Value));
        Assert.Empty(audit.List(new AuditFilter(JobId: 1, Train: "diabetes-risk")));
        // Paging back: one at a time, before the last id seen.
        var first = audit.List(new AuditFilter(Limit: 1)).Single();
        Assert.Equal(AuditKinds.ResultReleased, audit.List(new AuditFilter(Before: first.Id, Limit: 1)).Single().Kind);
        Assert.Throws<ArgumentException>(() => audit.List(new AuditFilter(Limit: 0)));
    }

    [Fact]
    public void Approvals_and_rejections_are_recorded_with_who_and_whether_a_person_or_a_policy_decided()
    {
        var approvals = new ApprovalStore(db);
        var (a, b) = ("sha256:" + new string('1', 64), "sha256:" + new string('2', 64));
        approvals.RecordInspection(Report(a));
        approvals.RecordInspection(Report(b));
        approvals.Park(Job(5, "x") with { ImageDigest = b }, b, DateTimeOffset.UtcNow.AddHours(1));

        approvals.Decide(a, ApprovalStates.Approved, "policy:small-stats", "matches the station's auto-approval rule 'small-stats'");
        approvals.Decide(b, ApprovalStates.Rejected, "dr-jones", "reads more than it needs");

        var records = audit.List(new AuditFilter(Train: "x"));
        var rejected = records[0];
        Assert.Equal((AuditKinds.ApprovalRejected, "dr-jones", b), (rejected.Kind, rejected.Actor, rejected.Digest));
        Assert.Equal("person", rejected.Details["via"]!.GetValue<string>());
        Assert.Equal("reads more than it needs", rejected.Details["reason"]!.GetValue<string>());
        Assert.Equal([5L], rejected.Details["waitingJobs"]!.AsArray().Select(j => j!.GetValue<long>()));
        var approved = records[1];
        Assert.Equal((AuditKinds.ApprovalApproved, "policy:small-stats", a, "1.0.0"), (approved.Kind, approved.Actor, approved.Digest, approved.TrainVersion));
        Assert.Equal("policy", approved.Details["via"]!.GetValue<string>());
        Assert.Null(approved.JobId);
    }

    [Fact]
    public void A_record_without_kind_or_actor_is_refused()
    {
        Assert.Throws<ArgumentException>(() => audit.Record("", null, new JsonObject()));
        Assert.Throws<ArgumentException>(() => audit.Record(AuditKinds.JobFailed, null, new JsonObject(), actor: " "));
    }
}
