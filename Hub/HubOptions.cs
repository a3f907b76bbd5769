namespace HealthTrain.Hub;

/// <summary>Hub settings, section <c>Hub</c> (e.g. <c>--Hub:DataDir=/var/lib/healthtrain-hub</c>).</summary>
public sealed class HubOptions
{
    /// <summary>Where the hub keeps its database and the bootstrap operator token.</summary>
    public string DataDir { get; set; } = "hub-data";

    /// <summary>The upstream CNCF distribution registry, bound to loopback.</summary>
    public string RegistryUrl { get; set; } = "http://127.0.0.1:5000";

    /// <summary>Token of the built-in <c>operator</c> identity; generated into DataDir/operator.token when not set.</summary>
    public string? OperatorToken { get; set; }

    public PublicationOptions Publication { get; set; } = new();
}

/// <summary>How trains get published, section <c>Hub:Publication</c>.</summary>
public sealed class PublicationOptions
{
    /// <summary>
    /// Train kinds (<c>statistics</c>, <c>training</c>) the hub publishes on its own once every check passed; the rest wait
    /// for an operator. Empty by default: a person decides.
    /// </summary>
    public List<string> AutoPublishKinds { get; set; } = [];

    /// <summary>
    /// Whether an image configured as root (or as a user name) may pass the hub's checks. Off by default; when on, each
    /// station still decides for itself (<c>Station:RootImages</c>: refuse, or run it as 65532:65532).
    /// </summary>
    public bool AllowRootImages { get; set; }

    /// <summary>Largest image (config plus compressed layers) the hub accepts as a train.</summary>
    public long MaxImageBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>
    /// <c>HOST[:PORT]</c> under which researchers and stations reach the registry gateway, named in the hub's publication
    /// signatures. When not set, the host the request that led to the publication was sent to.
    /// </summary>
    public string? RegistryHost { get; set; }
}
