using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Docker.DotNet;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Hub;
using HealthTrain.Station.Inspection;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Privacy;
using HealthTrain.Station.Release;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthTrain.Station.Tests.Jobs;

/// <summary>
/// The job worker acts on the operator's release decisions: a released result (and its update) goes to the hub, a
/// withheld or expired one fails its job at stage <c>release</c>, an undecided one stays in the outbox. The hub is a
/// stand-in on loopback that records what the station sent.
/// </summary>
public sealed class HeldResultsTests : IAsyncLifetime
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("ht-held-").FullName;
    private readonly ConcurrentDictionary<long, string> _results = new(), _failures = new(), _updates = new(), _refused = new();
    private WebApplication _hub = null!;
    private ServiceProvider _station = null!;

    public async Task InitializeAsync()
    {
        var hub = WebApplication.CreateSlimBuilder();
        hub.WebHost.UseUrls("http://127.0.0.1:0");
        hub.Logging.ClearProviders();
        _hub = hub.Build();
        _hub.MapGet("/api/station/jobs/next", async () => { await Task.Delay(100); return Results.NoContent(); });
        _hub.MapPut("/api/station/jobs/{id:long}/update", async (long id, HttpRequest request) =>
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
            _updates[id] = digest;
            return Results.Ok(new { digest, bytes = buffer.Length });
        });
        _hub.MapPost("/api/station/jobs/{id:long}/result", async (long id, HttpRequest request) =>
        {
            var body = await new StreamReader(request.Body).ReadToEndAsync();
            // Job 6 ended at the hub while its result waited at the station.
            if (id == 6)
            {
                _refused[id] = body;
                return Results.Conflict(new ApiError($"job {id} is not open for this report"));
            }
            _results[id] = body;
            return Results.NoContent();
        });
        _hub.MapPost("/api/station/jobs/{id:long}/failure", async (long id, HttpRequest request) =>
        {
            _failures[id] = await new StreamReader(request.Body).ReadToEndAsync();
            return Results.NoContent();
        });
        await _hub.StartAsync();
        var hubUrl = _hub.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var options = new StationOptions
        {
            Name = "held-clinic", HubUrl = hubUrl, Token = "st_station-token", DataDir = _dataDir, PollSeconds = 1,
            DockerEndpoint = "unix:///nonexistent/docker.sock",
            Release = { Manual = [TrainKinds.Statistics, TrainKinds.Training], WaitHours = 1 },
        };
        // The station's services as Program.cs registers them; Docker is never reached because no job runs.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(options);
        services.AddSingleton(_ => new DockerClientConfiguration(new Uri(options.DockerEndpoint)).CreateClient());
        services.AddSingleton(_ => new FhirStore(Path.Combine(_dataDir, "fhir.db")));
        services.AddSingleton<StationStatus>();
        services.AddSingleton<TrainImages>();
        services.AddSingleton(_ => new GpuAllocator(options.GpuIds));
        services.AddSingleton<ITrainExecutor, DockerTrainExecutor>();
        services.AddSingleton<TrainInputs>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<IGlobalModels, HubGlobalModels>();
        services.AddSingleton<StationPrivacy>();
        services.AddSingleton<HealthTrain.Station.Disclosure.StationDisclosure>();
        services.AddSingleton<HealthTrain.Station.Audit.StationAudit>();
        services.AddSingleton<HealthTrain.Station.Receipts.ReceiptStore>();
        services.AddSingleton<HealthTrain.Station.Receipts.ReceiptCollector>();
        services.AddSingleton(_ =>
        {
            var db = new StationDatabase(Path.Combine(_dataDir, "station.db"));
            db.Migrate();
            return db;
        });
        services.AddSingleton(new TrustStore([], [], AuthorPolicies.HubVouched));
        services.AddSingleton<TrainSignatures>();
        services.AddSingleton<StationRegistry>();
        services.AddSingleton<TrainInspector>();
        services.AddSingleton<ApprovalStore>();
        services.AddSingleton<ApprovalPolicy>();
        services.AddSingleton<ApprovalGate>();
        services.AddSingleton<JobHistory>();
        services.AddSingleton<ReleaseStore>();
        services.AddHttpClient<HubClient>();
        services.AddSingleton<JobWorker>();
        _station = services.BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await _station.DisposeAsync();
        await _hub.StopAsync();
        await _hub.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDir, recursive: true);
    }

    private static JobAssignment Job(long id) =>
        new(id, 3, 1, 1, "cohort", "1.0.0", "127.0.0.1:7000/alice/cohort@sha256:" + new string('e', 64), "sha256:" + new string('e', 64), "{}", new());

    private static JobResultUpload Patients(double n) =>
        new(new StatisticsResult { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Value = n } } }, new JobTimings { TotalMs = 500 });

    private string UpdateFile(long id)
    {
        var path = Path.Combine(Directory.CreateDirectory(Path.Combine(_dataDir, "outbox")).FullName, $"job-{id}.safetensors");
        File.WriteAllBytes(path, SafeTensors.ToBytes([SafeTensors.Float32("w", [2], [1, 2])]));
        return path;
    }

    [Fact]
    public async Task Released_results_go_to_the_hub_and_withheld_or_expired_ones_fail_their_jobs()
    {
        var releases = _station.GetRequiredService<ReleaseStore>();
        var history = _station.GetRequiredService<JobHistory>();
        var later = DateTimeOffset.UtcNow.AddHours(1);
        foreach (var id in new long[] { 1, 2, 3, 4, 5, 6 }) history.Received(Job(id));
        releases.Hold(Job(1), TrainKinds.Statistics, Patients(12), null, later);
        releases.Decide(1, ReleaseStates.Released, "dana", null);
        releases.Hold(Job(2), TrainKinds.Statistics, Patients(2), null, later);
        releases.Decide(2, ReleaseStates.Withheld, "dana", "two patients could be identified");
        var expiredUpdate = UpdateFile(3);
        releases.Hold(Job(3), TrainKinds.Training, Patients(0) with { Update = new ModelUpdateSummary("", 10, new Dictionary<string, double>()) },
            expiredUpdate, DateTimeOffset.UtcNow.AddSeconds(-1));
        releases.Hold(Job(4), TrainKinds.Statistics, Patients(40), null, later);
        var update = UpdateFile(5);
        releases.Hold(Job(5), TrainKinds.Training, Patients(0) with { Update = new ModelUpdateSummary("", 80, new Dictionary<string, double> { ["loss"] = 0.25 }) },
            update, later);
        releases.Decide(5, ReleaseStates.Released, "dana", "norms look ordinary");
        releases.Hold(Job(6), TrainKinds.Statistics, Patients(7), null, later);
        releases.Decide(6, ReleaseStates.Released, "dana", null);
        var expectedDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(update)));

        var worker = _station.GetRequiredService<JobWorker>();
        await worker.StartAsync(default);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((_results.Count < 2 || _failures.Count < 2 || _refused.IsEmpty || releases.All().Count > 1) && DateTime.UtcNow < deadline) await Task.Delay(50);
        await worker.StopAsync(default);

        Assert.Equal([1L, 5L], _results.Keys.Order());
        Assert.Equal(12, JsonSerializer.Deserialize<JobResultUpload>(_results[1], ProtocolJson.Api)!.Statistics.Statistics["patients"].Value);
        Assert.Equal(expectedDigest, _updates[5]);
        Assert.Equal(expectedDigest, JsonSerializer.Deserialize<JobResultUpload>(_results[5], ProtocolJson.Api)!.Update!.Digest);
        Assert.False(File.Exists(update));

        Assert.Equal([2L, 3L], _failures.Keys.Order());
        var withheld = JsonSerializer.Deserialize<JobFailureReport>(_failures[2], ProtocolJson.Api)!;
        Assert.Equal("release", withheld.Stage);
        Assert.Matches(@"^the result was withheld at this station by dana on \d{4}-\d\d-\d\d \d\d:\d\d UTC: two patients could be identified$", withheld.Reason);
        Assert.Equal(500, withheld.Timings!.TotalMs);
        var expired = JsonSerializer.Deserialize<JobFailureReport>(_failures[3], ProtocolJson.Api)!;
        Assert.Equal(("release", "the result was not released at this station within 1 h"), (expired.Stage, expired.Reason));
        Assert.False(File.Exists(expiredUpdate));

        // Only the undecided result is still held; the station's history says how each job ended.
        Assert.Equal([4L], releases.All().Select(h => h.JobId));
        var states = history.Recent().ToDictionary(j => j.JobId, j => j.State);
        Assert.Equal(JobStates.Succeeded, states[1]);
        Assert.Equal(JobStates.Failed, states[2]);
        Assert.Equal(JobStates.Failed, states[3]);
        Assert.Equal(JobStates.Succeeded, states[5]);
        // A result the hub no longer takes is not sent again and again.
        var refused = history.Recent().Single(j => j.JobId == 6);
        Assert.Equal((JobStates.Failed, "release"), (refused.State, refused.Stage));
        Assert.Contains("409", refused.Reason);
        // The station's audit log names who released each result it sent.
        var audit = _station.GetRequiredService<HealthTrain.Station.Audit.StationAudit>();
        var released = audit.List(new HealthTrain.Station.Audit.AuditFilter(Kind: HealthTrain.Station.Audit.AuditKinds.ResultReleased));
        Assert.Equal([1L, 5L, 6L], released.Select(r => r.JobId!.Value).Order());
        Assert.All(released, r => Assert.Equal("dana", (string?)r.Details["releasedBy"]));
    }
}
