using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace HealthTrain.Station.Views;

/// <summary>Parses FHIR R4 resource JSON for views, leniently: what does not fit the R4 model is dropped rather than failing the whole view.</summary>
internal static class FhirResourceJson
{
    // Recoverable: unknown elements, missing required elements and wrong literal types do not throw,
    // so data that other FHIR versions or loose exporters produced still feeds the columns it can.
    private static readonly FhirJsonDeserializer Deserializer =
        new(new DeserializerSettings().UsingMode(DeserializationMode.Recoverable));

    public static Resource Parse(string json)
    {
        try
        {
            return Deserializer.Deserialize<Resource>(json);
        }
        catch (Exception e)
        {
            throw new ViewEvaluationException($"a resource is not valid FHIR JSON: {e.Message}", e);
        }
    }
}
