using HealthTrain.Station.Inspection;
using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Approval;

/// <summary>What the station decided about running a prepared job now.</summary>
public abstract record GateDecision
{
    /// <summary>The digest is approved here: run it, under this statement.</summary>
    public sealed record Approved(ApprovalStatement Statement) : GateDecision;

    /// <summary>The digest was rejected here, or breaks a hard rule of the station.</summary>
    public sealed record Refused(string Stage, string Reason) : GateDecision;

    /// <summary>A person must decide; the job waits.</summary>
    public sealed record Pending(ApprovalInfo Approval) : GateDecision;
}

/// <summary>
/// Decides whether a verified image may run: an earlier decision on the exact digest stands (a re-tag or rebuild is a new
/// digest and needs its own); a new digest is inspected, its report stored, and approved by a matching policy rule or
/// left for the station's operator. Hard limits apply to every job, approved or not.
/// </summary>
public sealed class ApprovalGate(TrainInspector inspector, ApprovalStore approvals, ApprovalPolicy policy, ILogger<ApprovalGate> log)
{
    public async Task<GateDecision> DecideAsync(PreparedJob prepared, CancellationToken ct)
    {
        var digest = prepared.Job.ImageDigest;
        if (policy.LimitProblems(prepared.Manifest) is { Count: > 0 } limits)
            return new GateDecision.Refused("inspect", string.Join("; ", limits));
        var existing = approvals.Find(digest);
        switch (existing?.State)
        {
            case ApprovalStates.Approved:
                return Approve(existing);
            case ApprovalStates.Rejected:
                return new GateDecision.Refused("approval",
                    $"{prepared.Repository}:{existing.Version} ({digest}) was rejected at this station by {existing.DecidedBy} on {existing.DecidedAt:yyyy-MM-dd HH:mm} UTC: {existing.Reason}");
            case ApprovalStates.Pending:
                return new GateDecision.Pending(existing);
        }

        var report = await inspector.ReportAsync(prepared.Job, prepared.Repository, prepared.Manifest, prepared.Image, prepared.Signatures, ct);
        if (!report.Acceptable) return new GateDecision.Refused("inspect", string.Join("; ", report.Problems));
        var pending = approvals.RecordInspection(report);
        if (policy.Match(report) is { } rule)
        {
            log.LogInformation("{Digest}: approved by policy rule {Rule}", digest, rule.Name);
            var approved = approvals.Decide(digest, ApprovalStates.Approved, $"policy:{rule.Name}",
                $"matches the station's auto-approval rule '{rule.Name}'")!;
            return Approve(approved);
        }
        log.LogInformation("{Digest}: {Train} {Version} by {Author} waits for the station operator's approval", digest, report.Train, report.Version, report.Author);
        return new GateDecision.Pending(pending);
    }

    private GateDecision Approve(ApprovalInfo approval) =>
        new GateDecision.Approved(new ApprovalStatement(approval.Digest, approval.DecidedBy!, approval.DecidedAt!.Value, approval.Reason, approvals.Signers(approval.Digest)));
}
