using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using HealthTrain.Station.Tests.Mapping;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>The source exports go through the same ingestion as FHIR files: every record stored or quarantined, re-runs idempotent.</summary>
public class MappedFormatIngestionTests
{
    [Theory]
    [InlineData("synthea-csv")]
    [InlineData("omop")]
    public void A_mapped_export_ingests_completely_and_a_second_run_changes_nothing(string format)
    {
        var path = format == "omop"
            ? MappingTestData.OmopZip
            : Directory.GetDirectories(MappingTestData.Unpack("synthea-csv-ma-27"), "*", SearchOption.AllDirectories)
                .First(d => File.Exists(Path.Combine(d, "patients.csv")));
        var store = new FhirStore(Path.Combine(MappingTestData.NewTempFolder(), "fhir.db"));

        var first = new FhirIngestion(store, new FhirIngestionOptions()).Run(Source(format), path);
        Assert.Equal(0, first.Quarantined);
        Assert.True(first.IngestedByType["Patient"] >= 27, $"{first.IngestedByType["Patient"]} patients");
        var counts = store.CountByType();

        var second = new FhirIngestion(store, new FhirIngestionOptions()).Run(Source(format), path);
        Assert.Equal(first.Ingested, second.Ingested);
        Assert.Equal(counts, store.CountByType());
    }

    private static IFhirSource Source(string format) =>
        FhirSourceFormats.TryCreate(format, out var source) ? source : throw new InvalidOperationException($"format {format} is not registered");
}
