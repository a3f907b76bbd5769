using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Cli.Demo;

/// <summary>Where a local federation keeps its state and finds its programs.</summary>
public sealed record FederationOptions(string RootDir)
{
    /// <summary>Registry blob storage; may live outside RootDir so pushed base layers survive between federations.</summary>
    public string? RegistryStorageDir { get; init; }
    public string RegistryBinary { get; init; } = "/usr/bin/docker-registry";
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>How long a station may take to load its FHIR folder before it is considered stuck.</summary>
    public TimeSpan StationLoadTimeout { get; init; } = TimeSpan.FromMinutes(10);
    public int StationPollSeconds { get; init; } = 20;

    /// <summary>Train kinds the hub publishes by itself once its checks pass (<c>Hub:Publication:AutoPublishKinds</c>).</summary>
    public IReadOnlyList<string> AutoPublishKinds { get; init; } = [TrainKinds.Statistics];

    /// <summary>Whether the hub lets root images pass its checks (<c>Hub:Publication:AllowRootImages</c>), leaving it to the stations.</summary>
    public bool AllowRootImages { get; init; }
}

/// <summary>A station process of a local federation.</summary>
public sealed record LocalStation(string Name, Uri StatusUrl, string DataDir, ChildProcess Process);

/// <summary>
/// A whole federation on loopback: a CNCF distribution registry, the hub in front of it, and station
/// processes — real programs talking HTTP, as in production. Used by <c>healthtrain demo</c> and the end-to-end tests.
/// </summary>
public sealed class LocalFederation : IAsyncDisposable
{
    private readonly FederationOptions _options;
    private readonly List<ChildProcess> _processes = [];
    private readonly List<LocalStation> _stations = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Dictionary<string, SigningKey> _researcherKeys = new(StringComparer.Ordinal);

    public Uri HubUrl { get; private set; } = null!;
    public Uri RegistryUrl { get; private set; } = null!;
    public string OperatorToken { get; } = "ht_operator_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    public HubApiClient Operator { get; private set; } = null!;
    public IReadOnlyList<LocalStation> Stations => _stations;
    public string LogDir => Path.Combine(_options.RootDir, "logs");
    public ChildProcess HubProcess { get; private set; } = null!;

    private LocalFederation(FederationOptions options) => _options = options;

    /// <summary>The registry's service name and the token issuer it trusts; the hub's defaults (<c>Hub:RegistryToken</c>).</summary>
    public const string RegistryService = "healthtrain-registry";
    public const string TokenIssuer = "healthtrain-hub";

    private string HubDataDir => Path.Combine(_options.RootDir, "hub");

    /// <summary>The hub's publication key (public half), which every station of this federation trusts.</summary>
    public string HubPublicationKeyPath => Path.Combine(HubDataDir, "publication-key.pem.pub");

    /// <summary>
    /// Starts the hub, then the registry, and waits until both answer. The hub comes first: it is the registry's token
    /// server, and creates the signing key and the certificate the registry's config names as its root bundle.
    /// </summary>
    public static async Task<LocalFederation> StartAsync(FederationOptions options, CancellationToken ct = default)
    {
        var federation = new LocalFederation(options);
        try
        {
            if (!File.Exists(options.RegistryBinary))
                throw new FileNotFoundException($"the OCI registry is not installed ({options.RegistryBinary}); run: apt-get install docker-registry");
            // The hub only needs the registry's address to start; it reads from the registry on demand.
            federation.RegistryUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreePort()}");
            await federation.StartHubAsync(ct);
            await federation.StartRegistryAsync(ct);
            return federation;
        }
        catch
        {
            await federation.DisposeAsync();
            throw;
        }
    }

    private async Task StartRegistryAsync(CancellationToken ct)
    {
        var storage = _options.RegistryStorageDir ?? Path.Combine(_options.RootDir, "registry");
        Directory.CreateDirectory(storage);
        // Written by the hub at start (RegistryTokenIssuer.CertificateFileName in its data folder).
        var bundle = Path.Combine(HubDataDir, "registry-token.crt");
        if (!File.Exists(bundle))
            throw new InvalidOperationException($"the hub did not write its registry token certificate {bundle}; see {HubProcess.LogPath}");
        var config = Path.Combine(_options.RootDir, "registry.yml");
        // relativeurls: upload locations stay relative, so Docker keeps talking to the hub's gateway, never the registry itself.
        // auth token: the registry accepts only bearer tokens the hub signed, and its 401 challenges send Docker to the hub's token endpoint.
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {storage}
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{RegistryUrl.Port}
              relativeurls: true
              secret: {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}
            auth:
              token:
                realm: {TokenRealm}
                service: {RegistryService}
                issuer: {TokenIssuer}
                rootcertbundle: {bundle}
            """);
        var registry = ChildProcess.Start("registry", _options.RegistryBinary, ["serve", config], Path.Combine(LogDir, "registry.log"));
        _processes.Add(registry);
        // Up when it challenges an anonymous ping with the hub's realm.
        await registry.WaitUntilAsync(async c =>
        {
            using var response = await _http.GetAsync(new Uri(RegistryUrl, "/v2/"), c);
            return response.StatusCode == System.Net.HttpStatusCode.Unauthorized
                && response.Headers.WwwAuthenticate.ToString().Contains($"realm=\"{TokenRealm}\"", StringComparison.Ordinal);
        }, _options.StartTimeout, ct);
    }

    /// <summary>The hub's token endpoint at its public URL: where the registry's challenges send Docker.</summary>
    public Uri TokenRealm => new(HubUrl, "/v2/token");

    /// <summary>Starts (or restarts) the hub process on a fixed port and data folder.</summary>
    private async Task StartHubAsync(CancellationToken ct)
    {
        if (HubUrl is null) HubUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreePort()}");
        HubProcess = ChildProcess.Start("hub", "dotnet",
        [
            RepoPaths.HubAssembly,
            "--urls", HubUrl.ToString().TrimEnd('/'),
            "--Hub:DataDir=" + HubDataDir,
            "--Hub:RegistryUrl=" + RegistryUrl.ToString().TrimEnd('/'),
            "--Hub:RegistryToken:Realm=" + TokenRealm,
            "--Hub:RegistryToken:Service=" + RegistryService,
            "--Hub:RegistryToken:Issuer=" + TokenIssuer,
            .. _options.AutoPublishKinds.Select((kind, i) => $"--Hub:Publication:AutoPublishKinds:{i}={kind}"),
            "--Hub:Publication:AllowRootImages=" + (_options.AllowRootImages ? "true" : "false"),
        ], Path.Combine(LogDir, "hub.log"), new Dictionary<string, string> { ["Hub__OperatorToken"] = OperatorToken });
        _processes.Add(HubProcess);
        await HubProcess.WaitUntilAsync(async c => (await _http.GetAsync(new Uri(HubUrl, "/healthz"), c)).IsSuccessStatusCode, _options.StartTimeout, ct);
        Operator?.Dispose();
        Operator = new HubApiClient(new HubConnection(HubUrl, OperatorToken));
    }

    /// <summary>Kills the hub (as a crash would) and starts it again on the same port and data.</summary>
    public async Task RestartHubAsync(CancellationToken ct = default)
    {
        _processes.Remove(HubProcess);
        await HubProcess.DisposeAsync();
        await StartHubAsync(ct);
    }

    /// <summary>Creates a researcher identity with a registered signing key and returns a client acting as them.</summary>
    public async Task<HubApiClient> AddResearcherAsync(string name, CancellationToken ct = default)
    {
        var created = await Operator.CreateIdentityAsync(name, Roles.Researcher, ct);
        var client = new HubApiClient(new HubConnection(HubUrl, created.Token));
        var key = SigningKey.Generate();
        await client.RegisterKeyAsync(key.PublicKey.Pem, ct);
        _researcherKeys[created.Token] = key;
        return client;
    }

    /// <summary>The signing key <see cref="AddResearcherAsync"/> made and registered for this researcher.</summary>
    public SigningKey KeyOf(HubApiClient researcher) => _researcherKeys[researcher.Connection.Token];

    /// <summary>Pushes, signs (with the researcher's key) and submits a train image as <paramref name="researcher"/>.</summary>
    public TrainPublisher Publisher(Docker.DotNet.DockerClient docker, HubApiClient researcher) => new(docker, researcher, KeyOf(researcher));

    /// <summary>Registers a station at the hub, starts its process with the given FHIR folder, and waits until it has loaded it.</summary>
    /// <remarks>
    /// The station trusts the hub's publication key; with <paramref name="autoApproveStatistics"/> it approves published
    /// statistics trains by policy, otherwise every new image waits for its operator (see <see cref="OperatorTokenOf"/>).
    /// </remarks>
    public async Task<LocalStation> AddStationAsync(string name, string? fhirDir, CancellationToken ct = default, string? tokenOverride = null,
        IEnumerable<string>? settings = null, bool autoApproveStatistics = true)
    {
        var token = tokenOverride ?? (await Operator.CreateIdentityAsync(name, Roles.Station, ct)).Token;
        var port = ChildProcess.FreePort();
        var dataDir = Path.Combine(_options.RootDir, "stations", name);
        var args = new List<string>
        {
            RepoPaths.StationAssembly,
            "--urls", $"http://127.0.0.1:{port}",
            "--Station:Name=" + name,
            "--Station:HubUrl=" + HubUrl.ToString().TrimEnd('/'),
            "--Station:DataDir=" + dataDir,
            "--Station:PollSeconds=" + _options.StationPollSeconds,
            "--Station:Trust:HubKeys:0=" + HubPublicationKeyPath,
        };
        if (autoApproveStatistics)
            args.AddRange(["--Station:Approval:AutoApprove:0:Name=local-statistics", "--Station:Approval:AutoApprove:0:Kinds:0=" + TrainKinds.Statistics]);
        if (fhirDir is not null) args.Add("--Station:FhirDir=" + fhirDir);
        // Extra station settings, e.g. "AllowRawResources=false".
        args.AddRange((settings ?? []).Select(s => "--Station:" + s));
        // Tokens go through the environment: command lines are visible to every local user in ps.
        var process = ChildProcess.Start(name, "dotnet", args, Path.Combine(LogDir, name + ".log"),
            new Dictionary<string, string> { ["Station__Token"] = token });
        _processes.Add(process);
        var station = new LocalStation(name, new Uri($"http://127.0.0.1:{port}/api/status"), dataDir, process);
        await process.WaitUntilAsync(async c => await StatusAsync(station, c) is { } s && s.GetProperty("state").GetString() is not ("starting" or "loading"),
            _options.StationLoadTimeout, ct);
        _stations.Add(station);
        return station;
    }

    /// <summary>The token of the station's own operator (generated into its data folder at first start).</summary>
    public static string OperatorTokenOf(LocalStation station) => File.ReadAllText(Path.Combine(station.DataDir, "operator.token")).Trim();

    /// <summary>The station's local status document, or null while it is not answering.</summary>
    public async Task<JsonElement?> StatusAsync(LocalStation station, CancellationToken ct = default)
    {
        using var response = await _http.GetAsync(station.StatusUrl, ct);
        if (!response.IsSuccessStatusCode) return null;
        return await response.Content.ReadFromJsonAsync<JsonElement>(ct);
    }

    public async ValueTask DisposeAsync()
    {
        // Stations first, so none is mid-report when the hub goes away.
        for (var i = _processes.Count - 1; i >= 0; i--) await _processes[i].DisposeAsync();
        _processes.Clear();
        Operator?.Dispose();
        foreach (var key in _researcherKeys.Values) key.Dispose();
        _http.Dispose();
    }
}
