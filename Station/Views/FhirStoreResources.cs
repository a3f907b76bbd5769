using HealthTrain.Station.Fhir;

namespace HealthTrain.Station.Views;

/// <summary>Streams the resources of one type from a station's FHIR store as JSON text, in id order, one row at a time.</summary>
public static class FhirStoreResources
{
    /// <summary>Every stored resource of <paramref name="resourceType"/>; the connection stays open until the enumeration ends.</summary>
    public static IEnumerable<string> ReadJson(FhirStore store, string resourceType)
    {
        ArgumentNullException.ThrowIfNull(store);
        using var connection = store.OpenConnection();
        using var command = connection.CreateCommand();
        // The primary key (resource_type, id) serves both the filter and the order: no sort, rows stream.
        command.CommandText = "SELECT json FROM fhir_resources WHERE resource_type = @type ORDER BY id";
        command.Parameters.AddWithValue("@type", resourceType);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return reader.GetString(0);
        }
    }
}
