// /work/main/Station/Ingestion/IFhirSource.cs
namespace HealthTrain.Station.Ingestion;
/// <summary>One record read from a source export: where it came from, and either a FHIR R4 resource (JSON) or why it could not become one.</summary>
public sealed record SourceRecord(string Position, string? ResourceJson, string? Error);
/// <summary>A source of FHIR R4 resources (bundles, NDJSON, a Synthea CSV export, OMOP CDM tables), read as a stream so memory stays flat.</summary>
public interface IFhirSource
{
    /// <summary>The --format name, e.g. synthea-csv.</summary>
    string Format { get; }
    IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken);
}
