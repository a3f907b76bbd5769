using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using static HealthTrain.Station.Tests.Ingestion.IngestionTestData;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>The station's <c>ingest</c> verb: exit codes and the printed report.</summary>
public sealed class IngestCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-ingest-cmd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => Path.Combine(_dir, "store", "fhir.db");

    private (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = IngestCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Ingest_prints_the_report_and_exits_0_even_with_quarantined_records()
    {
        var input = Path.Combine(_dir, "Patient.ndjson");
        File.WriteAllText(input, Ndjson(Patient("p1"), """{"resourceType":"Patient","id":"p2","active":"yes"}""", "not json"));

        var (code, stdout, _) = Run("--format", "fhir-ndjson", "--store", Store, input);

        Assert.Equal(0, code);
        Assert.Contains("records      3: 1 ingested, 2 quarantined", stdout);
        Assert.Contains("invalid-fhir-r4", stdout);
        Assert.Contains("invalid-json", stdout);
        Assert.Contains("store now    Patient 1", stdout);
        Assert.Equal(1, new FhirStore(Store).Count("Patient"));
    }

    [Theory]
    [InlineData("needs the PATH", "--format", "fhir-ndjson", "--store", "x.db")]
    [InlineData("needs --format", "--store", "x.db", "in")]
    [InlineData("needs --store", "--format", "fhir-ndjson", "in")]
    [InlineData("unknown format 'xml'", "--format", "xml", "--store", "x.db", "in")]
    [InlineData("unknown option --fast", "--fast", "--format", "fhir-ndjson", "--store", "x.db", "in")]
    [InlineData("--dangling is keep or quarantine", "--dangling", "maybe", "--format", "fhir-ndjson", "--store", "x.db", "in")]
    [InlineData("--batch needs a positive number", "--batch", "0", "--format", "fhir-ndjson", "--store", "x.db", "in")]
    public void Usage_errors_exit_2(string message, params string[] args)
    {
        var (code, _, stderr) = Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message, stderr);
        Assert.Contains("usage:", stderr);
    }

    [Fact]
    public void A_planned_format_that_is_not_registered_yet_is_a_usage_error_naming_the_available_ones()
    {
        if (FhirSourceFormats.Names.Contains("omop")) return; // registered since: nothing to check

        var (code, _, stderr) = Run("--format", "omop", "--store", Store, _dir);

        Assert.Equal(2, code);
        Assert.Contains("format 'omop' is not available in this build yet; available: fhir-bundle, fhir-ndjson", stderr);
    }

    [Fact]
    public void A_missing_input_exits_2_without_creating_the_store()
    {
        var (code, _, stderr) = Run("--format", "fhir-bundle", "--store", Store, Path.Combine(_dir, "nope"));

        Assert.Equal(2, code);
        Assert.Contains("no file or folder at", stderr);
        Assert.False(File.Exists(Store));
    }

    [Fact]
    public async Task The_station_executable_knows_the_verb()
    {
        Assert.Contains("fhir-bundle", FhirSourceFormats.Names);
        Assert.Contains("fhir-ndjson", FhirSourceFormats.Names);
        Assert.Equal(0, await StationCommands.TryRunAsync(["ingest", "--help"]));
    }
}
