using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace HealthTrain.Station.Mapping;

/// <summary>
/// Checks a mapped resource by parsing it with the Firely R4 deserializer in strict mode: unknown elements, wrong
/// primitive formats, wrong JSON types and missing required elements are all errors. A resource that fails is
/// quarantined with these errors as the reason.
/// </summary>
public static class FhirResourceValidator
{
    private static readonly FhirJsonDeserializer Strict =
        new(new DeserializerSettings().UsingMode(DeserializationMode.Strict));

    /// <summary>Null when the JSON is a valid R4 resource of <paramref name="expectedType"/>, otherwise why not.</summary>
    public static string? Validate(string json, string expectedType)
    {
        try
        {
            var resource = Strict.Deserialize<Resource>(json);
            return resource.TypeName == expectedType
                ? null
                : $"expected a {expectedType}, the JSON is a {resource.TypeName}";
        }
        catch (DeserializationFailedException ex)
        {
            var reasons = ex.Exceptions.Select(e => e.Message).Distinct().Take(5).ToList();
            var more = ex.Exceptions.Count() - reasons.Count;
            return $"not valid FHIR R4 ({expectedType}): {string.Join("; ", reasons)}{(more > 0 ? $" (and {more} more)" : "")}";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return $"not valid FHIR R4 ({expectedType}): {ex.Message}";
        }
    }
}
