using System.Text.Json.Nodes;
using HealthTrain.Cli.Hub;
using HealthTrain.Station;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Inspection;
using HealthTrain.Station.Storage;
using HealthTrain.Cli.Demo;
using HealthTrain.Trains.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// The station does not take the hub's word for a train: it reads the manifest from the image it pulled by digest and
/// refuses one that is missing or differs, and it verifies the image's signatures against its own trust store. The hub
/// refuses such images at submission, so these jobs are handed to a station's job runner directly, with real pulls and
/// signature reads through the hub's gateway.
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
        var digest = await f.Federation.Publisher(f.Docker, f.Alice).PushImageAsync(
            f.MisbehavingWithoutManifest.Reference, FederationFixture.MisbehavingRepository, "no-manifest", "alice");
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(Job(digest, f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("inspect", e.Stage);
        Assert.Contains("the manifest is missing: the image has no 'org.healthtrain.manifest' label", e.Reason);
    }

    [Fact]
    public async Task A_pulled_image_whose_manifest_differs_from_the_hubs_is_refused()
    {
        var runner = await RunnerAsync("inspector-b");
        var digest = await f.Federation.Publisher(f.Docker, f.Alice).PushImageAsync(
            f.MisbehavingShortTimeout.Reference, FederationFixture.MisbehavingRepository, "short", "alice");
        // The hub's record says 60 s; the image says 4 s.
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(Job(digest, f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("inspect", e.Stage);
        Assert.Equal("the image's train manifest differs from the one the hub registered", e.Reason);
    }

    [Fact]
    public async Task A_digest_the_registry_does_not_hold_fails_the_pull()
    {
        var runner = await RunnerAsync("inspector-c");
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(
            Job("sha256:" + new string('0', 64), f.Misbehaving.Manifest), CancellationToken.None));
        Assert.Equal("pull", e.Stage);
    }

    private static JobAssignment Job(string digest, TrainManifest manifest) => new(
        JobId: 1_000_000 + Random.Shared.Next(1000), RunId: 0, Round: 1, TrainId: 0, manifest.Name, manifest.Version,
        $"{FederationFixture.MisbehavingRepository}@{digest}", digest,
        System.Text.Json.JsonSerializer.Serialize(manifest, ProtocolJson.Options), new JsonObject());

    [Fact]
    public async Task An_unsigned_image_is_refused_at_verification()
    {
        var runner = await RunnerAsync("inspector-d");
        var digest = await PushUnpublishedAsync("unsigned");
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(Job(digest, f.UnpublishedManifest), CancellationToken.None));
        Assert.True(e.Stage == "verify", $"{e.Stage}: {e.Reason}");
        Assert.Contains("the image is not signed", e.Reason);
    }

    [Fact]
    public async Task An_image_signed_only_by_a_key_the_station_does_not_trust_is_refused()
    {
        var runner = await RunnerAsync("inspector-e");
        var train = await PublishedMisbehavingAsync();
        // Someone signs the same digest with a key of their own: it neither replaces nor adds to the hub's publication.
        using var stranger = HealthTrain.Trains.Protocol.Signing.SigningKey.Generate();
        var registry = AliceRegistry(out var http);
        using (http)
            await registry.SignAsync(FederationFixture.MisbehavingRepository, train.Digest, stranger);
        var prepared = await runner.PrepareAsync(Job(train.Digest, f.Misbehaving.Manifest), CancellationToken.None);
        Assert.Equal(["hub", "author"], prepared.Signatures.Signers.Select(s => s.Role));
        Assert.DoesNotContain(prepared.Signatures.Signers, s => s.KeyId == stranger.KeyId);

        // A digest signed only by the stranger: no trusted hub signature, so it is refused.
        var digest = await PushUnpublishedAsync("stranger");
        var strangerRegistry = AliceRegistry(out var strangerHttp);
        using (strangerHttp)
            await strangerRegistry.SignAsync(FederationFixture.MisbehavingRepository, digest, stranger);
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(Job(digest, f.UnpublishedManifest), CancellationToken.None));
        Assert.True(e.Stage == "verify", $"{e.Stage}: {e.Reason}");
        Assert.Contains("no valid publication signature by a trusted hub key: the signature does not verify with any trusted key", e.Reason);
    }

    [Fact]
    public async Task Signatures_copied_onto_other_content_do_not_count()
    {
        var runner = await RunnerAsync("inspector-f");
        var train = await PublishedMisbehavingAsync();
        // A compromised registry re-tags other content and copies the published image's signatures onto it.
        var other = await PushUnpublishedAsync("retagged");
        var registry = AliceRegistry(out var http);
        using (http)
        {
            var published = await registry.ReadSignaturesAsync(FederationFixture.MisbehavingRepository, train.Digest);
            foreach (var s in published)
            {
                var signature = new HealthTrain.Trains.Protocol.Signing.ImageSignature(s.Payload,
                    Convert.FromBase64String(s.Layer.Annotation(HealthTrain.Trains.Protocol.Signing.Cosign.SignatureAnnotation)!));
                await Assert.ThrowsAsync<ArgumentException>(() => registry.AttachAsync(FederationFixture.MisbehavingRepository, other, signature));
            }
            // Our client refuses to store a signature under another digest; an attacker writes the manifest themselves.
            var manifest = await registry.ReadSignatureManifestAsync(FederationFixture.MisbehavingRepository, train.Digest);
            await PutSignatureManifestAsync(http, other, manifest!);
        }
        var e = await Assert.ThrowsAsync<JobFailedException>(() => runner.PrepareAsync(Job(other, f.UnpublishedManifest), CancellationToken.None));
        Assert.True(e.Stage == "verify", $"{e.Stage}: {e.Reason}");
        Assert.Contains($"the signature is for {train.Digest}, not for this image ({other})", e.Reason);
    }

    /// <summary>The misbehaving train submitted and published by the hub (statistics trains are published by policy here).</summary>
    private async Task<TrainInfo> PublishedMisbehavingAsync()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        Assert.Equal(TrainStates.Published, train.State);
        return train;
    }

    private HealthTrain.Trains.Protocol.Signing.SignatureRegistry AliceRegistry(out HttpClient http)
    {
        http = new HttpClient { BaseAddress = new Uri(f.Federation.HubUrl, "/") };
        return new HealthTrain.Trains.Protocol.Signing.SignatureRegistry(http,
            new HealthTrain.Trains.Protocol.Signing.RegistryCredentials("alice", f.Alice.Connection.Token));
    }

    /// <summary>Writes a signature manifest under the tag of <paramref name="digest"/> through the gateway, as any pusher can (its blobs are in the repository already).</summary>
    private async Task PutSignatureManifestAsync(HttpClient http, string digest, HealthTrain.Trains.Protocol.Signing.SignatureManifest manifest)
    {
        var token = await RegistryTokenAsync(http);
        using var request = new HttpRequestMessage(HttpMethod.Put,
            $"/v2/{FederationFixture.MisbehavingRepository}/manifests/{HealthTrain.Trains.Protocol.Signing.Cosign.SignatureTag(digest)}")
        {
            Content = new ByteArrayContent(manifest.Bytes.ToArray()),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(HealthTrain.Trains.Protocol.Signing.SignatureManifest.ManifestMediaType);
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
    }

    /// <summary>Pushes a fresh variant of the never-submitted version: a digest nobody has signed yet.</summary>
    private async Task<string> PushUnpublishedAsync(string tag) =>
        await f.Federation.Publisher(f.Docker, f.Alice).PushImageAsync(await f.FreshVariantAsync(f.MisbehavingUnpublished),
            FederationFixture.MisbehavingRepository, tag + "-" + Guid.NewGuid().ToString("N")[..6], "alice");

    private async Task<string> RegistryTokenAsync(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get,
            $"/v2/token?service={LocalFederation.RegistryService}&scope=repository:{FederationFixture.MisbehavingRepository}:pull,push");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("alice:" + f.Alice.Connection.Token)));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("token").GetString()!;
    }

    private async Task<JobRunner> RunnerAsync(string name)
    {
        var identity = await f.Federation.Operator.CreateIdentityAsync(name, Roles.Station);
        var options = new StationOptions
        {
            Name = name, HubUrl = f.Federation.HubUrl.ToString(), Token = identity.Token, DataDir = Path.Combine(_dir, name),
            Trust = new TrustOptions { HubKeys = [f.Federation.HubPublicationKeyPath] },
        };
        Directory.CreateDirectory(options.DataDir);
        var store = new FhirStore(Path.Combine(_dir, name + ".db"));
        var db = new StationDatabase(Path.Combine(options.DataDir, "station.db"));
        db.Migrate();
        var approvals = new ApprovalStore(db);
        var inspector = new TrainInspector(new StationRegistry(options), new TrainSignatures(TrustStore.Load(options.Trust)), approvals,
            new ApprovalPolicy(options), f.Docker, NullLogger<TrainInspector>.Instance);
        return new JobRunner(new TrainImages(f.Docker, options), new DockerTrainExecutor(f.Docker, NullLogger<DockerTrainExecutor>.Instance),
            new TrainInputs(store, options), new GpuAllocator([]), inspector, approvals,
            new HubGlobalModels(new HealthTrain.Station.Hub.HubClient(new HttpClient(), options)), new HealthTrain.Station.Privacy.StationPrivacy(options),
            new HealthTrain.Station.Disclosure.StationDisclosure(options, db, NullLogger<HealthTrain.Station.Disclosure.StationDisclosure>.Instance),
            options, NullLogger<JobRunner>.Instance);
    }
}
