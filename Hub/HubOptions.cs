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
}
