namespace HealthTrain.Trains.Protocol;

// The station's own HTTP contracts, for its operator (CLI and web UI): inspection reports and approvals.

/// <summary>A key whose valid signature on the image the station verified: the hub's publication key or an author's key.</summary>
public sealed record ImageSigner(string KeyId, string Role, string Name)
{
    public const string HubRole = "hub";
    public const string AuthorRole = "author";
}

/// <summary>One layer of the image as the registry holds it.</summary>
public sealed record ImageLayerInfo(string Digest, long Size, string MediaType);

/// <summary>The parts of the image config that decide how it runs.</summary>
public sealed record ImageConfigSummary(string User, IReadOnlyList<string> Entrypoint, IReadOnlyList<string> Cmd, IReadOnlyList<string> Env,
    IReadOnlyList<string> ExposedPorts, IReadOnlyList<string> Volumes, IReadOnlyDictionary<string, string> Labels, string? WorkingDir);

/// <summary>What changed in the image's files against the last version of the same train this station approved.</summary>
public sealed record ImageDiff(string PreviousDigest, string PreviousVersion, IReadOnlyList<string> Added, IReadOnlyList<string> Changed, IReadOnlyList<string> Removed);

/// <summary>
/// Everything the station found out about a train image before it may run: who signed it, what it is made of, how it
/// runs, what it reads and writes, what changed since the last approved version, and any reason to refuse it.
/// </summary>
public sealed record InspectionReport(
    string Digest, string Repository, string Train, string Version, string Kind, string Author,
    IReadOnlyList<ImageSigner> Signers, IReadOnlyList<ImageLayerInfo> Layers, long TotalLayerBytes, ImageConfigSummary Config,
    TrainManifest Manifest, ImageDiff? Diff, IReadOnlyList<string> Problems, DateTimeOffset InspectedAt)
{
    /// <summary>True when nothing forbids running the image (it may still wait for an approval).</summary>
    public bool Acceptable => Problems.Count == 0;
}

/// <summary>Approval states at a station.</summary>
public static class ApprovalStates
{
    public const string Pending = "pending";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
}

/// <summary>A station's approval record for one exact image digest.</summary>
public sealed record ApprovalInfo(string Digest, string Repository, string Train, string Version, string Kind, string Author, string State,
    DateTimeOffset RequestedAt, string? DecidedBy, DateTimeOffset? DecidedAt, string? Reason, IReadOnlyList<long> WaitingJobs, InspectionReport? Report = null);

/// <summary>An operator's decision at the station.</summary>
public sealed record ApprovalDecision(string? Reason);

/// <summary>
/// One record of the station's own audit log, kept in station.db independently of the hub: a view materialized for a
/// job (with its row count), an approval or rejection (who, and whether a person or a policy rule), a release (what
/// left the station, its digest and size, what was checked or noised), a refusal or failure.
/// </summary>
/// <param name="Id">Ascending in the order the station recorded.</param>
/// <param name="At">When the station recorded it.</param>
/// <param name="Kind">What happened (<c>view.materialized</c>, <c>approval.approved</c>, <c>result.released</c>, …).</param>
/// <param name="JobId">The hub's job, when the record concerns one.</param>
/// <param name="RunId">The hub's run of that job.</param>
/// <param name="Train">The train's name.</param>
/// <param name="TrainVersion">The train's version.</param>
/// <param name="Digest">The image digest the record concerns.</param>
/// <param name="Actor">Who decided or acted: an operator's name, <c>policy:RULE</c>, or the station itself.</param>
/// <param name="Details">What the record says beyond its columns.</param>
public sealed record StationAuditRecord(long Id, DateTimeOffset At, string Kind, long? JobId, long? RunId, string? Train, string? TrainVersion,
    string? Digest, string Actor, System.Text.Json.Nodes.JsonObject Details);

/// <summary>
/// A ledger receipt the station keeps for one of its own entries at the hub, with what the station made of it:
/// <see cref="Problem"/> is null when the receipt checked out against the pinned hub ledger key.
/// </summary>
public sealed record StationReceipt(Ledger.LedgerReceipt Receipt, string Kind, string Subject, DateTimeOffset ReceivedAt, string? Problem);
