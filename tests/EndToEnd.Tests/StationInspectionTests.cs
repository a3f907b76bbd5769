using System.Text.Json.Nodes;
using HealthTrain.Cli.Hub;
using HealthTrain.Station;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// The station does not take the hub's word for a train: it reads the manifest from the image it pulled by digest
/// and refuses one that is missing or differs. The hub refuses such images at submission, so these jobs are handed
/// to a station's job runner directly, with a real pull through the hub's gateway.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class StationInspectionTests(FederationFixture f) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-inspect-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_pulled_image_without_a_manifest_is_refused_before_it_runs()
    {
        var runner = await RunnerAsync("inspector-a");
        var digest = await new TrainPublisher(f.Docker, f.Alice).PushImageAsync(
            f.MisbehavingWithoutManifest.Reference, FederationFixture.MisbehavingRepository, "no-manifest", "alice");
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.RunAsync(Job(digest, f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("inspect", e.Stage);
        Assert.Contains("the manifest is missing: the image has no 'org.healthtrain.manifest' label", e.Reason);
    }

    [Fact]
    public async Task A_pulled_image_whose_manifest_differs_from_the_hubs_is_refused()
    {
        var runner = await RunnerAsync("inspector-b");
        var digest = await new TrainPublisher(f.Docker, f.Alice).PushImageAsync(
            f.MisbehavingShortTimeout.Reference, FederationFixture.MisbehavingRepository, "short", "alice");
        // The hub's record says 60 s; the image says 4 s.
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.RunAsync(Job(digest, f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("inspect", e.Stage);
        Assert.Equal("the image's train manifest differs from the one the hub registered", e.Reason);
    }

    [Fact]
    public async Task A_digest_the_registry_does_not_hold_fails_the_pull()
    {
        var runner = await RunnerAsync("inspector-c");
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.RunAsync(
            Job("sha256:" + new string('0', 64), f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("pull", e.Stage);
    }

    private static JobAssignment Job(string digest, TrainManifest manifest) => new(
        JobId: 1_000_000 + Random.Shared.Next(1000), RunId: 0, Round: 1, TrainId: 0, manifest.Name, manifest.Version,
        $"{FederationFixture.MisbehavingRepository}@{digest}", digest,
        System.Text.Json.JsonSerializer.Serialize(manifest, ProtocolJson.Options), new JsonObject());

    private async Task<JobRunner> RunnerAsync(string name)
    {
        var identity = await f.Federation.Operator.CreateIdentityAsync(name, Roles.Station);
        var options = new StationOptions
        {
            Name = name, HubUrl = f.Federation.HubUrl.ToString(), Token = identity.Token, DataDir = Path.Combine(_dir, name),
        };
        var store = new FhirStore(Path.Combine(_dir, name + ".db"));
        return new JobRunner(new TrainImages(f.Docker, options), new DockerTrainExecutor(f.Docker, NullLogger<DockerTrainExecutor>.Instance),
            new TrainInputs(store, options), new GpuAllocator([]), options, NullLogger<JobRunner>.Instance);
    }
}
