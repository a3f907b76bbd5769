namespace HealthTrain.Station;

/// <summary>Station settings, section <c>Station</c> (e.g. <c>--Station:HubUrl=http://127.0.0.1:7000</c>).</summary>
public sealed class StationOptions
{
    /// <summary>This station's identity name at the hub.</summary>
    public string Name { get; set; } = "";

    /// <summary>The hub; the station only ever calls out to it.</summary>
    public string HubUrl { get; set; } = "";

    /// <summary>The station's identity token, issued by the hub operator.</summary>
    public string Token { get; set; } = "";

    /// <summary>A folder of FHIR R4 Bundles (.json) or NDJSON files loaded into the store at start; optional.</summary>
    public string? FhirDir { get; set; }

    /// <summary>Where the station keeps its store and job working folders.</summary>
    public string DataDir { get; set; } = "station-data";

    /// <summary>Docker Engine endpoint.</summary>
    public string DockerEndpoint { get; set; } = "unix:///var/run/docker.sock";

    /// <summary>How long one long poll for jobs waits at the hub.</summary>
    public int PollSeconds { get; set; } = 20;

    /// <summary>Largest total size of what a train may write to <c>/output</c>.</summary>
    public long MaxOutputBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Most files and folders a train may leave in <c>/output</c>; one more stops the train.</summary>
    public int MaxOutputFiles { get; set; } = 1000;

    /// <summary>
    /// What to do with a train image whose configured user is not a numeric non-root uid: <c>refuse</c> the job
    /// (default) or <c>remap</c> it to run as 65532:65532.
    /// </summary>
    public string RootImages { get; set; } = Execution.TrainUserPolicy.Refuse;

    /// <summary>Size of the writable tmpfs mounted at <c>/tmp</c> in the train container.</summary>
    public long TmpBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Most processes a train may run at once.</summary>
    public long PidsLimit { get; set; } = 256;

    /// <summary>
    /// Whether trains may ask for whole FHIR resources (input kind <c>fhir-resources</c>) rather than views of
    /// declared columns. Set false to allow views only.
    /// </summary>
    public bool AllowRawResources { get; set; } = true;

    /// <summary>
    /// Image collections this station serves to trains (input kind <c>image-collection</c>), by name: each an
    /// image-collection file (<c>healthtrain data images NPZ --out FILE</c> makes one).
    /// </summary>
    public Dictionary<string, string> ImageCollections { get; set; } = [];

    /// <summary>GPU device ids (as the NVIDIA runtime names them, e.g. "0", "1" or a UUID) this station lends to trains.</summary>
    public List<string> GpuIds { get; set; } = [];

    /// <summary>Docker device driver for GPU requests.</summary>
    public string GpuDriver { get; set; } = "nvidia";

    /// <summary>How long a GPU job waits for its GPUs to be free before it is refused.</summary>
    public int GpuWaitSeconds { get; set; } = 600;

    /// <summary>Whose signatures this station trusts.</summary>
    public TrustOptions Trust { get; set; } = new();

    /// <summary>When trains need a person's approval, and the limits no approval can lift.</summary>
    public ApprovalOptions Approval { get; set; } = new();

    /// <summary>
    /// The people who run this station, by name, with their tokens for the station's own API (approvals). When none is
    /// configured, an <c>operator</c> gets a token generated into DataDir/operator.token (mode 0600).
    /// </summary>
    public Dictionary<string, string> Operators { get; set; } = [];

    /// <summary>Which checked results wait in the outbox for the operator's release before they go to the hub (section <c>Station:Release</c>).</summary>
    public Release.ReleaseOptions Release { get; set; } = new();

    /// <summary>Differential privacy for released model updates (section <c>Station:Privacy</c>); off unless a noise multiplier is set.</summary>
    public Privacy.PrivacyOptions Privacy { get; set; } = new();

    /// <summary>Small-cell suppression of released statistics (section <c>Station:Disclosure</c>); k = 5 unless set.</summary>
    public Disclosure.DisclosureOptions Disclosure { get; set; } = new();

    /// <summary>The registry host Docker pulls from: the hub's host and port.</summary>
    public string RegistryHost => new Uri(HubUrl).Authority;
}

/// <summary>The station's trust store, section <c>Station:Trust</c>.</summary>
public sealed class TrustOptions
{
    /// <summary>The hub's publication keys (PEM files), pinned out of band (<c>healthtrain keys hub --out DIR</c>, then compare ids).</summary>
    public List<string> HubKeys { get; set; } = [];

    /// <summary>
    /// The hub's ledger key (PEM file, <c>healthtrain keys hub --out DIR</c>) the station checks its ledger receipts with;
    /// without it the key the hub serves at first contact is pinned in station.db and held to from then on.
    /// </summary>
    public string? LedgerKey { get; set; }

    /// <summary>Trusted authors: a name and their public key file (PEM).</summary>
    public Dictionary<string, string> Authors { get; set; } = [];

    /// <summary>
    /// <c>hub-vouched</c> (default): any author whose key the hub checked and named in its publication signature;
    /// <c>trusted-authors</c>: only authors listed in <see cref="Authors"/>.
    /// </summary>
    public string AuthorPolicy { get; set; } = AuthorPolicies.HubVouched;
}

/// <summary>The author policies of <see cref="TrustOptions.AuthorPolicy"/>.</summary>
public static class AuthorPolicies
{
    public const string HubVouched = "hub-vouched";
    public const string TrustedAuthors = "trusted-authors";
}

/// <summary>Approval settings, section <c>Station:Approval</c>.</summary>
public sealed class ApprovalOptions
{
    /// <summary>How long a job waits at the station for its train to be approved before it fails.</summary>
    public double WaitHours { get; set; } = 72;

    /// <summary>Hard limits: a train asking for more is refused, approval or not. Null: no limit of the station's own.</summary>
    public double? MaxCpus { get; set; }
    public long? MaxMemoryMb { get; set; }
    public int? MaxTimeoutSeconds { get; set; }

    /// <summary>Most GPUs one train may have; 0 means GPUs never.</summary>
    public int? MaxGpus { get; set; }

    /// <summary>Rules under which the station approves a train without asking its operator; the first that matches decides.</summary>
    public List<AutoApproveRule> AutoApprove { get; set; } = [];
}

/// <summary>
/// One auto-approval rule: every condition given must hold (for example, <c>statistics</c> trains by <c>alice</c>
/// asking at most 1024 MB and no GPU).
/// </summary>
public sealed class AutoApproveRule
{
    /// <summary>Recorded as the approver, <c>policy:NAME</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Train kinds the rule covers; empty: any.</summary>
    public List<string> Kinds { get; set; } = [];

    /// <summary>Authors (by the name their verified signature carries) the rule covers; empty: any trusted author.</summary>
    public List<string> Authors { get; set; } = [];

    public long? MaxMemoryMb { get; set; }
    public int? MaxTimeoutSeconds { get; set; }
    public int? MaxGpus { get; set; }
}
