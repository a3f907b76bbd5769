namespace HealthTrain.Station.Fhir;

/// <summary>One FHIR resource as stored: its key, index columns and compact JSON text.</summary>
/// <param name="ResourceType">FHIR resource type, e.g. <c>Observation</c>.</param>
/// <param name="Id">Logical id, unique within <paramref name="ResourceType"/>.</param>
/// <param name="LastUpdated">ISO-8601 instant: <c>meta.lastUpdated</c>, or the load time when absent.</param>
/// <param name="Subject">The <c>Type/id</c> reference of the resource's subject or patient, or null.</param>
/// <param name="Json">The resource as one line of compact JSON.</param>
public readonly record struct FhirResourceRow(string ResourceType, string Id, string LastUpdated, string? Subject, string Json);
