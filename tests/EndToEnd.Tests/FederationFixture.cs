using System.Text.Json.Nodes;
using Docker.DotNet;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// One real federation for the end-to-end tests: registry, hub and three hospital stations holding disjoint
/// city slices of the Synthea population, plus a tiny clinic of three patients, all as separate processes on loopback.
/// </summary>
public sealed class FederationFixture : IAsyncLifetime
{
    public const string MisbehavingRepository = "alice/misbehaving-train";
    public const int TinyClinicPatients = 3;

    private readonly string _root = Directory.CreateTempSubdirectory("ht-e2e-").FullName;

    public DockerClient Docker { get; } = ImageCommands.Docker();
    public LocalFederation Federation { get; private set; } = null!;
    public HubApiClient Alice { get; private set; } = null!;
    public CitySplitResult Slices { get; private set; } = null!;
    public TrainImage CohortStats { get; private set; } = null!;
    /// <summary>The misbehaving fixture train as built from its train.json.</summary>
    public TrainImage Misbehaving { get; private set; } = null!;
    /// <summary>The same program whose manifest allows only a few seconds.</summary>
    public TrainImage MisbehavingShortTimeout { get; private set; } = null!;
    /// <summary>The same program as a version no test submits to the hub: never published, for signature tests.</summary>
    public TrainImage MisbehavingUnpublished { get; private set; } = null!;
    /// <summary>The manifest <see cref="MisbehavingUnpublished"/> carries in its label.</summary>
    public TrainManifest UnpublishedManifest { get; private set; } = null!;
    /// <summary>The same program in an image configured to run as root.</summary>
    public TrainImage MisbehavingAsRoot { get; private set; } = null!;
    /// <summary>The same program with no manifest label at all.</summary>
    public TrainImage MisbehavingWithoutManifest { get; private set; } = null!;
    /// <summary>The same program whose label is not valid manifest JSON.</summary>
    public TrainImage MisbehavingMalformedManifest { get; private set; } = null!;
    public IReadOnlyList<string> Hospitals { get; } = ["hospital-a", "hospital-b", "hospital-c"];
    public string TinyClinic => "tiny-clinic";
    public string Root => _root;

    public async Task InitializeAsync()
    {
        Slices = DemoData.EnsureSlices(RepoPaths.WorkDir, Hospitals.Count);
        var quiet = new ImmediateProgress<string>(_ => { });
        var bases = new BaseImageBuilder(Docker, BaseImageOptions.ForRepository(RepoPaths.Root), quiet);
        var builder = new TrainImageBuilder(Docker, bases, quiet);
        CohortStats = await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "cohort-stats"));
        using (var publish = await builder.PublishAsync(Path.Combine(RepoPaths.Root, "tests", "Fixtures", "misbehaving-train")))
        {
            Misbehaving = await builder.BuildImageAsync(publish);
            var shortTimeout = JsonNode.Parse(publish.ManifestJson)!.AsObject();
            shortTimeout["version"] = "1.0.1-short-timeout";
            shortTimeout["resources"]!["timeoutSeconds"] = 4;
            MisbehavingShortTimeout = await builder.BuildImageAsync(publish, new TrainImageOptions
            {
                Reference = "healthtrain/misbehaving-train:1.0.1-short-timeout",
                ManifestLabel = ManifestLabel.Literal(shortTimeout.ToJsonString()),
            });
            var unpublished = JsonNode.Parse(publish.ManifestJson)!.AsObject();
            unpublished["version"] = "0.0.1-unpublished";
            MisbehavingUnpublished = await builder.BuildImageAsync(publish, new TrainImageOptions
            {
                Reference = "healthtrain/misbehaving-train:0.0.1-unpublished",
                ManifestLabel = ManifestLabel.Literal(unpublished.ToJsonString()),
            });
            UnpublishedManifest = ManifestValidator.ParseOrThrow(unpublished.ToJsonString());
            var asRoot = JsonNode.Parse(publish.ManifestJson)!.AsObject();
            asRoot["version"] = "1.1.1-root";
            MisbehavingAsRoot = await builder.BuildImageAsync(publish, new TrainImageOptions
            {
                Reference = "healthtrain/misbehaving-train:1.1.1-root",
                ManifestLabel = ManifestLabel.Literal(asRoot.ToJsonString()),
                User = "root",
            });
            MisbehavingWithoutManifest = await builder.BuildImageAsync(publish, new TrainImageOptions
            {
                Reference = "healthtrain/misbehaving-train:no-manifest",
                ManifestLabel = ManifestLabel.Omitted,
            });
            MisbehavingMalformedManifest = await builder.BuildImageAsync(publish, new TrainImageOptions
            {
                Reference = "healthtrain/misbehaving-train:malformed-manifest",
                ManifestLabel = ManifestLabel.Literal("""{"format":1,"name":"misbehaving-train","version":"9","kind":"statistics","authors":[],"inputs":[],"outputs":{"statistics":[{"name":"Bad Name","kind":"median"}]},"resources":{"memoryMb":1}}"""),
            });
        }

        // Root images pass the hub here, so the stations' own refusal (Station:RootImages) is what the adversarial tests meet.
        Federation = await LocalFederation.StartAsync(new FederationOptions(_root)
        {
            StationPollSeconds = 5, AllowRootImages = true, AutoPublishKinds = [TrainKinds.Statistics, TrainKinds.Training],
        });
        Alice = await Federation.AddResearcherAsync("alice");
        var starts = Slices.Parts.Select((part, i) => Federation.AddStationAsync(Hospitals[i], part.Folder)).ToList();
        starts.Add(Federation.AddStationAsync(TinyClinic, WriteTinyClinic()));
        await Task.WhenAll(starts);
    }

    /// <summary>Three patients as FHIR NDJSON: a station small enough for a train to treat differently.</summary>
    private string WriteTinyClinic()
    {
        var dir = Path.Combine(_root, "tiny-clinic-data");
        Directory.CreateDirectory(dir);
        File.WriteAllLines(Path.Combine(dir, "Patient.ndjson"), Enumerable.Range(1, TinyClinicPatients).Select(i =>
            $$"""{"resourceType":"Patient","id":"tiny-{{i}}","gender":"{{(i % 2 == 0 ? "male" : "female")}}","birthDate":"19{{50 + i}}-03-0{{i}}"}"""));
        return dir;
    }

    /// <summary>Pushes tag images as HOST:PORT/…; every federation has a new port, so its tags are removed rather than left to pile up.</summary>
    private async Task UntagPushedImagesAsync(string registryHost)
    {
        try
        {
            foreach (var image in await Docker.Images.ListImagesAsync(new Docker.DotNet.Models.ImagesListParameters()))
                foreach (var tag in (image.RepoTags ?? []).Where(t => t.StartsWith(registryHost + "/", StringComparison.Ordinal)))
                    await Docker.Images.DeleteImageAsync(tag, new Docker.DotNet.Models.ImageDeleteParameters());
        }
        catch (Docker.DotNet.DockerApiException)
        {
            // Cleanup only: an image still in use keeps its tag.
        }
    }

    /// <summary>
    /// A new local image with the same files and manifest as <paramref name="image"/> but a config of its own (a nonce
    /// label, and any Dockerfile-style <paramref name="changes"/>), so it pushes under a digest no earlier test has signed or published.
    /// </summary>
    public async Task<string> FreshVariantAsync(TrainImage image, params string[] changes)
    {
        var nonce = Guid.NewGuid().ToString("N")[..12];
        var container = await Docker.Containers.CreateContainerAsync(new Docker.DotNet.Models.CreateContainerParameters { Image = image.Reference });
        try
        {
            await Docker.Images.CommitContainerChangesAsync(new Docker.DotNet.Models.CommitContainerChangesParameters
            {
                ContainerID = container.ID, RepositoryName = "healthtrain/test-variant", Tag = nonce,
                Changes = [$"LABEL org.healthtrain.test-nonce={nonce}", .. changes],
            });
        }
        finally
        {
            await Docker.Containers.RemoveContainerAsync(container.ID, new Docker.DotNet.Models.ContainerRemoveParameters { Force = true });
        }
        _variants.Add($"healthtrain/test-variant:{nonce}");
        return $"healthtrain/test-variant:{nonce}";
    }

    /// <summary>
    /// A fresh variant (see <see cref="FreshVariantAsync"/>) whose manifest says <paramref name="version"/>: a train
    /// version no other test registers, so its digest is its own whatever Docker did with earlier pushes.
    /// </summary>
    public Task<string> FreshVersionAsync(TrainImage image, TrainManifest manifest, string version)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(manifest with { Version = version }, new System.Text.Json.JsonSerializerOptions(ProtocolJson.Options)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        // A Dockerfile LABEL value in double quotes, with its quotes and backslashes escaped.
        return FreshVariantAsync(image, $"LABEL {TrainManifest.LabelKey}=\"{json.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"");
    }

    private readonly List<string> _variants = [];

    /// <summary>Starts a run and waits for it to end.</summary>
    public async Task<RunInfo> RunToEndAsync(TrainInfo train, IReadOnlyList<string> stations, Dictionary<string, System.Text.Json.JsonElement>? parameters = null)
    {
        var run = await Alice.StartRunAsync(new RunRequest(train.Id, stations, 1, parameters));
        return await Alice.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(3));
    }

    public async Task DisposeAsync()
    {
        if (Federation is not null)
        {
            await UntagPushedImagesAsync(Federation.HubUrl.Authority);
            foreach (var variant in _variants)
                try { await Docker.Images.DeleteImageAsync(variant, new Docker.DotNet.Models.ImageDeleteParameters { Force = true }); }
                catch (Docker.DotNet.DockerApiException) { }
            await Federation.DisposeAsync();
        }
        Alice?.Dispose();
        Docker.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}


[CollectionDefinition(Name)]
public sealed class FederationCollection : ICollectionFixture<FederationFixture>
{
    public const string Name = "federation";
}
