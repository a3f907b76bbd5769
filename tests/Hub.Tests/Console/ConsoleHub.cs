using System.Security.Cryptography;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;
using HealthTrain.Trains.Protocol.Signing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace HealthTrain.Hub.Tests.Console;

/// <summary>
/// The whole hub (<see cref="HubApp"/>) on loopback Kestrel in this process, with a temporary data folder and no
/// registry, plus the steps that put trains, runs and model versions in it through the hub's own classes: stations
/// claim and finish jobs through the <see cref="JobQueue"/>, and the hub's round merger makes the model versions.
/// Shared by the console's HTTP tests and the browser smoke test.
/// </summary>
public sealed class ConsoleHub : IAsyncDisposable
{
    public const string Strategy = "fedavg";

    private readonly string dir = Directory.CreateTempSubdirectory("ht-console-").FullName;
    private WebApplication app = null!;

    public string OperatorToken { get; } = "ht_operator_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    public Uri BaseAddress { get; private set; } = null!;
    public IServiceProvider Services => app.Services;
    public Identities Identities => Services.GetRequiredService<Identities>();
    public TrainCatalog Catalog => Services.GetRequiredService<TrainCatalog>();
    public RunStore Runs => Services.GetRequiredService<RunStore>();
    public JobQueue Queue => Services.GetRequiredService<JobQueue>();

    public static async Task<ConsoleHub> StartAsync()
    {
        var hub = new ConsoleHub();
        hub.app = HubApp.Build(
        [
            "--urls=http://127.0.0.1:0", $"--Hub:DataDir={hub.dir}", $"--Hub:OperatorToken={hub.OperatorToken}",
            // Nothing listens there: publishing reaches no registry, and says so.
            "--Hub:RegistryUrl=http://127.0.0.1:9", "--Logging:LogLevel:Default=Warning",
        ]);
        await hub.app.StartAsync();
        hub.BaseAddress = new Uri(hub.app.Urls.First());
        return hub;
    }

    public static readonly TrainManifest StatisticsManifest = ManifestValidator.ParseOrThrow("""
        {"format":1,"name":"cohort","version":"1.0.0","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
        """);

    public static readonly TrainManifest TrainingManifest = ManifestValidator.ParseOrThrow("""
        {"format":1,"name":"risk","version":"1.0.0","authors":["a"],"kind":"training",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"tensors":[{"name":"w","shape":[3],"dtype":"float32"}]}}
        """);

    /// <summary>A new identity; the name is taken as given (the API would refuse odd names, the database does not).</summary>
    public Caller Identity(string name, string role)
    {
        Identities.Create(name, role);
        return Identities.FindByName(name)!;
    }

    /// <summary>A train submitted by <paramref name="owner"/> and checked by the hub with the given results.</summary>
    public TrainInfo Train(Caller owner, string name, string version, TrainManifest manifest, params TrainCheck[] checks)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name + version)));
        var train = Catalog.Register(owner, $"{owner.Name}/{name}", digest, manifest with { Name = name, Version = version }).Train;
        var passed = checks.Length > 0 && checks.All(c => c.Passed);
        // A passed signature check names a key the owner registered, as the hub's checks would.
        var authorKey = passed ? Services.GetRequiredService<IdentityKeys>().Register(owner, SigningKey.Generate().PublicKey.Pem).Key.KeyId : null;
        return Catalog.RecordChecks(train.Id, checks, authorKey);
    }

    /// <summary>Every check the hub runs, passed.</summary>
    public static TrainCheck[] Passing() =>
    [
        new(TrainChecks.Manifest, true, "valid"), new(TrainChecks.AuthorSignature, true, "signed by the owner's key a1b2c3d4e5f6a7b8…"),
        new(TrainChecks.NonRoot, true, "runs as 65532:65532"), new(TrainChecks.NoExposedPorts, true, "exposes no ports"), new(TrainChecks.Size, true, "12 MiB"),
    ];

    /// <summary>Marks a train published as an operator's decision would (the registry signature itself needs a registry).</summary>
    public TrainInfo Published(TrainInfo train) =>
        Catalog.Decide(train.Id, TrainStates.Published, "operator", "seeded", Services.GetRequiredService<PublicationKey>().Key.KeyId,
            new System.Text.Json.Nodes.JsonObject { ["digest"] = train.Digest });

    /// <summary>Starts a training run of <paramref name="rounds"/> rounds at the stations.</summary>
    public long TrainingRun(Caller researcher, TrainInfo train, IReadOnlyList<Caller> stations, int rounds) =>
        Runs.Create(researcher, train, [.. stations.Select(s => s.Id)], rounds, new(), new TrainingSettings { Strategy = Strategy, Seed = 7 });

    /// <summary>The station claims its next job, uploads an update and reports it, as its worker would.</summary>
    public async Task<long> ContributeAsync(Caller station, float scale, long samples, IReadOnlyDictionary<string, double> metrics)
    {
        var job = await Queue.NextAsync(station, TimeSpan.Zero, default) ?? throw new InvalidOperationException($"no job for {station.Name}");
        Queue.MarkStarted(station, job.JobId);
        var files = Services.GetRequiredService<ModelFiles>();
        var bytes = SafeTensors.ToBytes([SafeTensors.Float32("w", [3], [scale, 2 * scale, 3 * scale])]);
        var (digest, size) = await ModelFiles.ReceiveAsync(new MemoryStream(bytes), files.UpdatePath(job.JobId), default);
        Queue.RecordUpdate(job.JobId, digest, size);
        var (outcome, errors) = Queue.Complete(station, job.JobId, new JobResultUpload(new StatisticsResult(), new())
        {
            Update = new ModelUpdateSummary(digest, samples, metrics),
        });
        if (outcome != JobReportOutcome.Accepted) throw new InvalidOperationException($"{outcome}: {string.Join("; ", errors)}");
        return job.JobId;
    }

    /// <summary>Waits until the hub's round merger has made the model version of <paramref name="round"/>.</summary>
    public async Task<ModelVersionInfo> VersionAsync(long runId, int round)
    {
        var versions = Services.GetRequiredService<ModelVersions>();
        var operatorCaller = Identities.FindByName("operator")!;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(50))
            if (versions.Find(operatorCaller, $"{runId}/{round}") is { } version) return version;
        throw new TimeoutException($"the hub made no model version {runId}/{round} within 30 s");
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null) await app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }
}
