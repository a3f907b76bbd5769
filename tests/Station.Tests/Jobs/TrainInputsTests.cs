using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Tests.Jobs;

public sealed class TrainInputsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-inputs-").FullName;
    private readonly FhirStore _store;
    private readonly StationOptions _options;

    public TrainInputsTests()
    {
        _store = new FhirStore(Path.Combine(_dir, "fhir.db"));
        _options = new StationOptions { DataDir = _dir };
        Put("p1", "female");
        Put("p2", "male");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Put(string id, string gender)
    {
        using var batch = _store.BeginBatch();
        batch.Upsert(new FhirResourceRow("Patient", id, "2026-01-01T00:00:00Z", null,
            $$"""{"resourceType":"Patient","id":"{{id}}","gender":"{{gender}}","birthDate":"1970-01-01","name":[{"family":"Secret"}]}"""));
        batch.Commit();
    }

    private static TrainManifest Manifest(string inputs) => ManifestValidator.ParseOrThrow(
        "{\"name\":\"t\",\"version\":\"1\",\"authors\":[\"a\"],\"kind\":\"statistics\",\"inputs\":" + inputs +
        ",\"outputs\":{\"statistics\":[{\"name\":\"patients\",\"kind\":\"count\"}]}}");

    private const string GenderView = """
        [{"kind":"view","name":"people","view":{"resourceType":"ViewDefinition","resource":"Patient",
          "select":[{"column":[{"name":"id","path":"id"},{"name":"gender","path":"gender"}]}]}}]
        """;

    private async Task<(IReadOnlyList<JobInputSummary> Summary, string Text)> DeliverAsync(TrainManifest manifest, string name)
    {
        var inputs = new TrainInputs(_store, _options);
        var input = Directory.CreateDirectory(Path.Combine(_dir, "in-" + Guid.NewGuid().ToString("N"))).FullName;
        var summary = await inputs.WriteAsync(input, inputs.Plan(manifest), default);
        return (summary, File.ReadAllText(Path.Combine(input, name)));
    }

    [Fact]
    public async Task A_view_delivers_only_its_columns_and_counts_its_rows()
    {
        var (summary, text) = await DeliverAsync(Manifest(GenderView), "views/people.ndjson");
        var people = Assert.Single(summary);
        Assert.Equal(("people", "view", "Patient", 2L), (people.Name, people.Kind, people.ResourceType, people.Rows));
        Assert.Equal(["id", "gender"], people.Columns);
        Assert.Equal("{\"id\":\"p1\",\"gender\":\"female\"}\n{\"id\":\"p2\",\"gender\":\"male\"}\n", text);
        Assert.DoesNotContain("Secret", text);
    }

    [Fact]
    public async Task Materialized_rows_are_reused_until_the_store_changes()
    {
        var first = await DeliverAsync(Manifest(GenderView), "views/people.ndjson");
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "view-cache"), "*.ndjson"));
        var again = await DeliverAsync(Manifest(GenderView), "views/people.ndjson");
        Assert.Equal(first.Text, again.Text);

        Put("p3", "other");
        var changed = await DeliverAsync(Manifest(GenderView), "views/people.ndjson");
        Assert.Equal(3, changed.Summary.Single().Rows);
        Assert.Contains("\"p3\"", changed.Text);
        // Only the current generation's rows are kept.
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "view-cache"), "*.ndjson"));
    }

    [Fact]
    public void A_view_that_does_not_compile_is_refused_at_inspection()
    {
        var manifest = Manifest("""
            [{"kind":"view","name":"bad","view":{"resourceType":"ViewDefinition","resource":"Patient","select":[{"column":[{"name":"x","path":"gender.("}]}]}}]
            """);
        var e = Assert.Throws<JobFailedException>(() => new TrainInputs(_store, _options).Plan(manifest));
        Assert.Equal("inspect", e.Stage);
        Assert.StartsWith("view input 'bad' ($.inputs[0].view) cannot run:", e.Reason);
    }

    [Fact]
    public void Raw_resources_are_refused_where_the_policy_forbids_them()
    {
        var manifest = Manifest("""[{"kind":"fhir-resources","resourceType":"Patient"}]""");
        Assert.Single(new TrainInputs(_store, _options).Plan(manifest));
        var strict = new StationOptions { DataDir = _dir, AllowRawResources = false };
        var e = Assert.Throws<JobFailedException>(() => new TrainInputs(_store, strict).Plan(manifest));
        Assert.Contains("does not give trains raw FHIR resources", e.Reason);
    }

    [Fact]
    public async Task An_image_collection_is_delivered_from_the_stations_file_and_an_unknown_one_refused()
    {
        var file = Path.Combine(_dir, "xrays.safetensors");
        using (var f = File.Create(file))
            new HealthTrain.Trains.Protocol.Models.ImageCollection(2, 2, 2, [1, 2, 3, 4, 5, 6, 7, 8], [0, 1]).Write(f);
        var manifest = Manifest("""[{"kind":"image-collection","name":"xrays"}]""");

        var missing = Assert.Throws<JobFailedException>(() => new TrainInputs(_store, _options).Plan(manifest));
        Assert.Contains("this station holds no image collection 'xrays'", missing.Reason);

        var options = new StationOptions { DataDir = _dir, ImageCollections = { ["xrays"] = file } };
        var inputs = new TrainInputs(_store, options);
        var plan = inputs.Plan(manifest);
        var inputDir = Path.Combine(_dir, "in");
        var summary = Assert.Single(await inputs.WriteAsync(inputDir, plan, CancellationToken.None));
        Assert.Equal(2, summary.Rows);
        Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(inputDir, "images", "xrays.safetensors")));

        File.WriteAllBytes(file, [1, 2, 3]);
        await Assert.ThrowsAsync<IOException>(() => inputs.WriteAsync(Path.Combine(_dir, "in2"), plan, CancellationToken.None));
    }
}
