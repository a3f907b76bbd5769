namespace HealthTrain.Station.Fhir;

/// <summary>Helpers for FHIR reference strings.</summary>
internal static class FhirReference
{
    /// <summary>
    /// Reduces a literal reference (<c>Patient/1</c>, <c>https://x/fhir/Patient/1/_history/2</c>) to <c>Type/id</c>;
    /// null for references that do not name a resource by type and id (<c>urn:uuid:…</c>, <c>#contained</c>, conditional <c>Patient?identifier=…</c>).
    /// </summary>
    public static string? ToTypeAndId(string reference)
    {
        if (reference.Length == 0
            || reference[0] == '#'
            || reference.Contains('?')
            || reference.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var parts = reference.Split('/');
        var end = parts.Length;
        if (end >= 4 && parts[end - 2] == "_history")
        {
            end -= 2;
        }

        if (end < 2)
        {
            return null;
        }

        var type = parts[end - 2];
        var id = parts[end - 1];
        if (id.Length == 0 || type.Length == 0 || !char.IsAsciiLetterUpper(type[0]) || !type.All(char.IsAsciiLetter))
        {
            return null;
        }

        return parts.Length == 2 ? reference : type + "/" + id;
    }
}
