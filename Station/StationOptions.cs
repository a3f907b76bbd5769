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

    /// <summary>Size of the writable tmpfs mounted at <c>/tmp</c> in the train container.</summary>
    public long TmpBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Most processes a train may run at once.</summary>
    public long PidsLimit { get; set; } = 256;

    /// <summary>
    /// Whether trains may ask for whole FHIR resources (input kind <c>fhir-resources</c>) rather than views of
    /// declared columns. Set false to allow views only.
    /// </summary>
    public bool AllowRawResources { get; set; } = true;

    /// <summary>GPU device ids (as the NVIDIA runtime names them, e.g. "0", "1" or a UUID) this station lends to trains.</summary>
    public List<string> GpuIds { get; set; } = [];

    /// <summary>Docker device driver for GPU requests.</summary>
    public string GpuDriver { get; set; } = "nvidia";

    /// <summary>How long a GPU job waits for its GPUs to be free before it is refused.</summary>
    public int GpuWaitSeconds { get; set; } = 600;

    /// <summary>Differential privacy for released model updates (section <c>Station:Privacy</c>); off unless a noise multiplier is set.</summary>
    public Privacy.PrivacyOptions Privacy { get; set; } = new();

    /// <summary>The registry host Docker pulls from: the hub's host and port.</summary>
    public string RegistryHost => new Uri(HubUrl).Authority;
}
