using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Trains.Protocol;

// The hub's HTTP contracts, shared by the hub, the station and the CLI.

/// <summary>Roles an identity can hold at the hub.</summary>
public static class Roles
{
    public const string Researcher = "researcher";
    public const string Station = "station";
    public const string Operator = "operator";
    public static readonly IReadOnlyList<string> All = [Researcher, Station, Operator];
}

/// <summary>Request to create an identity (operator only).</summary>
public sealed record IdentityRequest(string Name, string Role);

/// <summary>A created identity with its token; the token is shown once and stored only as a hash.</summary>
public sealed record IdentityCreated(string Name, string Role, string Token);

/// <summary>An identity as listed to operators.</summary>
public sealed record IdentityInfo(string Name, string Role, DateTimeOffset CreatedAt, DateTimeOffset? LastSeenAt);

/// <summary>Submits a pushed image as a train: <c>Repository</c> is <c>owner/name</c> in the hub registry, <c>Reference</c> a tag or digest.</summary>
public sealed record TrainSubmission(string Repository, string Reference);

/// <summary>A train known to the hub, with where it stands on the way to publication.</summary>
public sealed record TrainInfo(long Id, string Owner, string Repository, string Name, string Version, string Digest, string Kind, TrainManifest Manifest, DateTimeOffset SubmittedAt)
{
    /// <summary>The pull reference relative to the registry: <c>owner/name@sha256:…</c>.</summary>
    public string ImageReference => $"{Repository}@{Digest}";

    /// <summary>One of <see cref="TrainStates"/>.</summary>
    public string State { get; init; } = TrainStates.Submitted;

    /// <summary>The hub's checks of the image, from the last time they ran.</summary>
    public IReadOnlyList<TrainCheck> Checks { get; init; } = [];

    /// <summary>Id of the author key whose signature the checks accepted.</summary>
    public string? AuthorKeyId { get; init; }

    /// <summary>Who published or rejected the train (an operator's name, or <c>hub-policy</c>), when, and why.</summary>
    public string? DecidedBy { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? DecisionReason { get; init; }

    /// <summary>Id of the hub key that signed the publication.</summary>
    public string? PublicationKeyId { get; init; }
}

/// <summary>
/// A train's way through the hub: <c>submitted</c> (pushed and registered), <c>checked</c> (every check passed),
/// <c>published</c> (an operator or the hub's policy signed it for use in runs), or <c>rejected</c>.
/// </summary>
public static class TrainStates
{
    public const string Submitted = "submitted";
    public const string Checked = "checked";
    public const string Published = "published";
    public const string Rejected = "rejected";
}

/// <summary>One of the hub's checks of a submitted train: what was checked, whether it passed, and what was found.</summary>
public sealed record TrainCheck(string Name, bool Passed, string Detail);

/// <summary>An operator's decision on a train, with the reason recorded in the ledger.</summary>
public sealed record TrainDecision(string? Reason);

/// <summary>Registers a public key (PEM, ECDSA P-256) for the calling researcher: signatures by it count as theirs.</summary>
public sealed record KeyRegistration(string PublicKeyPem);

/// <summary>A registered key as listed.</summary>
public sealed record KeyInfo(string KeyId, string Owner, DateTimeOffset AddedAt, DateTimeOffset? RevokedAt, string PublicKeyPem);

/// <summary>The hub's public keys, for stations and auditors to pin out of band.</summary>
public sealed record HubKeys(string PublicationKeyId, string PublicationKeyPem, string LedgerKeyId, string LedgerKeyPem);

/// <summary>Starts a run of a train at some stations.</summary>
public sealed record RunRequest(long TrainId, IReadOnlyList<string> Stations, int Rounds = 1, Dictionary<string, JsonElement>? Parameters = null)
{
    /// <summary>For a training train: how the hub merges each round and when a round may close.</summary>
    public TrainingSettings? Training { get; init; }
}

/// <summary>
/// A training run's settings: the merge strategy with its parameters, the quorum a round needs, a round deadline after
/// which stragglers are dropped (when the quorum is met), and the seed every station initializes the model from.
/// </summary>
public sealed record TrainingSettings
{
    /// <summary><c>fedavg</c>, <c>fedprox</c>, <c>fedadam</c>, <c>median</c>, <c>trimmed-mean</c> or <c>geometric-median</c>.</summary>
    public string Strategy { get; init; } = "fedavg";
    /// <summary>fedprox: the proximal coefficient μ the trains add to their loss.</summary>
    public double? ProximalMu { get; init; }
    /// <summary>fedadam: server learning rate η, β1, β2 and τ.</summary>
    public double? ServerLearningRate { get; init; }
    public double? Beta1 { get; init; }
    public double? Beta2 { get; init; }
    public double? Tau { get; init; }
    /// <summary>trimmed-mean: the fraction dropped at each end per coordinate.</summary>
    public double? TrimFraction { get; init; }
    /// <summary>Any strategy: first scale each update's distance from the global model down to the round's median distance.</summary>
    public bool? NormBound { get; init; }
    /// <summary>Quorum: at least this many stations must contribute to a round (default 1).</summary>
    public int? MinStations { get; init; }
    /// <summary>Quorum: at least this fraction of the run's stations must contribute (default none).</summary>
    public double? MinFraction { get; init; }
    /// <summary>Seconds after a round opens when it closes with whoever has contributed, if that meets the quorum.</summary>
    public int? RoundDeadlineSeconds { get; init; }
    /// <summary>Seed of the initial model and of the stations' held-out splits.</summary>
    public long Seed { get; init; } = 42;
}

/// <summary>What a station needs to know about the round a training job belongs to.</summary>
public sealed record JobTraining(int Rounds, string Strategy, double? ProximalMu, long Seed, string? GlobalModelDigest);

/// <summary>A station's trained update as the hub received it: its digest, its sample count (the fedavg weight) and its local metrics.</summary>
public sealed record ModelUpdateSummary(string Digest, long Samples, IReadOnlyDictionary<string, double> Metrics);

/// <summary>A merged model the hub keeps, content-addressed, with its lineage.</summary>
public sealed record ModelVersionInfo(long Id, string Digest, long RunId, int Round, string Train, string? ParentDigest, string Strategy,
    IReadOnlyList<ModelContribution> Contributors, long Samples, IReadOnlyDictionary<string, double> Metrics, DateTimeOffset CreatedAt);

/// <summary>One station's part in a model version: its job, the digest of the update it sent, its samples and metrics.</summary>
public sealed record ModelContribution(string Station, long JobId, string UpdateDigest, long Samples, IReadOnlyDictionary<string, double> Metrics);

/// <summary>Job states, in the order they normally pass.</summary>
public static class JobStates
{
    public const string Queued = "queued";
    public const string Claimed = "claimed";
    /// <summary>The station holds the job until its operator (or policy) approves the train's image.</summary>
    public const string AwaitingApproval = "awaiting-approval";
    public const string Running = "running";
    /// <summary>The train ran; the station holds its checked result until its operator releases or withholds it.</summary>
    public const string AwaitingRelease = "awaiting-release";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public static bool IsTerminal(string state) => state is Succeeded or Failed;
}

/// <summary>Run states.</summary>
public static class RunStates
{
    public const string Running = "running";
    /// <summary>Every round finished and at least one station contributed to the last one.</summary>
    public const string Completed = "completed";
    /// <summary>A round ended with no successful station result.</summary>
    public const string Failed = "failed";
}

/// <summary>Round states.</summary>
public static class RoundStates
{
    public const string Open = "open";
    /// <summary>A training round whose jobs all ended: the hub is merging the updates.</summary>
    public const string Merging = "merging";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

/// <summary>A run with its rounds and jobs.</summary>
public sealed record RunInfo(long Id, long TrainId, string Train, string Owner, string State, int Rounds, int CurrentRound,
    JsonObject Parameters, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, IReadOnlyList<JobInfo> Jobs);

/// <summary>One job: a run's train executed at one station in one round.</summary>
public sealed record JobInfo(long Id, int Round, string Station, string State, int Attempts, string? Error, int? ExitCode,
    string? LogTail, JobTimings? Timings, string? ResultDigest, DateTimeOffset? ClaimedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
    IReadOnlyList<JobInputSummary>? Inputs = null);

/// <summary>What a station is told to execute.</summary>
public sealed record JobAssignment(long JobId, long RunId, int Round, long TrainId, string TrainName, string TrainVersion,
    string ImageReference, string ImageDigest, string ManifestJson, JsonObject Parameters)
{
    /// <summary>The researcher who owns the train (its author at the hub).</summary>
    public string TrainOwner { get; init; } = "";

    /// <summary>The researcher who started the run.</summary>
    public string RunOwner { get; init; } = "";

    /// <summary>For a training train: the round's settings and the global model to start from.</summary>
    public JobTraining? Training { get; init; }
}

/// <summary>Where the station's time went for one job, in milliseconds.</summary>
public sealed record JobTimings
{
    public long PullMs { get; init; }
    public long InspectMs { get; init; }
    public long PrepareInputMs { get; init; }
    public long CreateStartMs { get; init; }
    /// <summary>From container start to exit: the train's own time.</summary>
    public long RunMs { get; init; }
    public long CollectMs { get; init; }
    public long TotalMs { get; init; }
}

/// <summary>What the station gave the train for one declared input: the columns it could see and how many rows.</summary>
public sealed record JobInputSummary(string Name, string Kind, string ResourceType, IReadOnlyList<string> Columns, long Rows);

/// <summary>A station's successful result for a job.</summary>
public sealed record JobResultUpload(StatisticsResult Statistics, JobTimings Timings, IReadOnlyList<JobInputSummary>? Inputs = null)
{
    /// <summary>For a training train: the update uploaded before this result (<c>PUT …/update</c>).</summary>
    public ModelUpdateSummary? Update { get; init; }
}

/// <summary>A station's report that it starts the train, with the approval it runs under.</summary>
public sealed record JobStarted(ApprovalStatement? Approval);

/// <summary>
/// A station's approval of one exact image digest: who decided (a person at the station, or <c>policy:NAME</c>), when,
/// why, and the key ids whose signatures the station verified.
/// </summary>
public sealed record ApprovalStatement(string Digest, string DecidedBy, DateTimeOffset DecidedAt, string? Reason, IReadOnlyList<string> Signers);

/// <summary>A station's report that it holds a job until the train is approved there; the hub keeps the job for it until <c>WaitSeconds</c> pass.</summary>
public sealed record JobAwaitingApproval(string Reason, int WaitSeconds);

/// <summary>A station's report that it holds a job's checked result until its operator releases it; the hub keeps the job for it until <c>WaitSeconds</c> pass.</summary>
public sealed record JobAwaitingRelease(string Reason, int WaitSeconds);

/// <summary>A station's report that a job failed, and why.</summary>
public sealed record JobFailureReport(string Stage, string Reason, int? ExitCode = null, string? LogTail = null, JobTimings? Timings = null,
    IReadOnlyList<JobInputSummary>? Inputs = null);

/// <summary>The pooled results of a run, per finished round.</summary>
public sealed record RunResults(long RunId, string State, IReadOnlyList<RoundResult> Rounds);

/// <summary>One round's pooled statistics, or null while the round is open or when it failed (then <c>Error</c> says why).</summary>
public sealed record RoundResult(int Round, string State, PooledStatistics? Pooled, string? Error = null);

/// <summary>An error body: a message and, for validation, each problem with its path.</summary>
public sealed record ApiError(string Error, IReadOnlyList<ValidationError>? Details = null);
