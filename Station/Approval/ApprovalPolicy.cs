using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Approval;

/// <summary>
/// The station operator's standing decisions: hard limits no approval lifts, and the rules under which a train is
/// approved without asking a person. A digest approved before needs no new decision: approvals bind to digests.
/// </summary>
public sealed class ApprovalPolicy(StationOptions options)
{
    private ApprovalOptions Approval => options.Approval;

    /// <summary>What the train asks for beyond the station's hard limits (empty: within them).</summary>
    public IReadOnlyList<string> LimitProblems(TrainManifest manifest)
    {
        var problems = new List<string>();
        var r = manifest.Resources;
        if (Approval.MaxCpus is { } cpus && r.Cpus > cpus) problems.Add($"asks for {r.Cpus} CPUs; this station allows at most {cpus} (Station:Approval:MaxCpus)");
        if (Approval.MaxMemoryMb is { } mb && r.MemoryMb > mb) problems.Add($"asks for {r.MemoryMb} MB of memory; this station allows at most {mb} (Station:Approval:MaxMemoryMb)");
        if (Approval.MaxTimeoutSeconds is { } s && r.TimeoutSeconds > s) problems.Add($"asks for {r.TimeoutSeconds} s; this station allows at most {s} (Station:Approval:MaxTimeoutSeconds)");
        if (Approval.MaxGpus is { } gpus && r.Gpus > gpus)
            problems.Add(gpus == 0 ? $"asks for {r.Gpus} GPU(s); this station never gives trains GPUs (Station:Approval:MaxGpus = 0)"
                                   : $"asks for {r.Gpus} GPUs; this station allows at most {gpus} (Station:Approval:MaxGpus)");
        return problems;
    }

    /// <summary>The first auto-approval rule the inspected train satisfies, or null when a person must decide.</summary>
    public AutoApproveRule? Match(InspectionReport report)
    {
        var author = report.Signers.FirstOrDefault(s => s.Role == ImageSigner.AuthorRole)?.Name;
        var r = report.Manifest.Resources;
        return Approval.AutoApprove.FirstOrDefault(rule =>
            (rule.Kinds.Count == 0 || rule.Kinds.Contains(report.Kind))
            && (rule.Authors.Count == 0 || (author is not null && rule.Authors.Contains(author)))
            && (rule.MaxMemoryMb is not { } mb || r.MemoryMb <= mb)
            && (rule.MaxTimeoutSeconds is not { } s || r.TimeoutSeconds <= s)
            && (rule.MaxGpus is not { } g || r.Gpus <= g));
    }
}
