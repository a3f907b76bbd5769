using System.Globalization;
using System.Text.Json;

namespace HealthTrain.Examples.CohortStats;

/// <summary>The few FHIR R4 JSON readings cohort-stats needs, tolerant of absent elements.</summary>
internal static class FhirJson
{
    public static string? String(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    public static JsonElement? Child(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : null;

    /// <summary>Whether the CodeableConcept <paramref name="property"/> of <paramref name="element"/> has a coding with this code (and system, when given).</summary>
    public static bool HasCoding(JsonElement element, string property, string? system, string code)
    {
        if (Child(element, property) is not { } concept
            || !concept.TryGetProperty("coding", out var codings) || codings.ValueKind != JsonValueKind.Array)
            return false;
        foreach (var coding in codings.EnumerateArray())
            if (String(coding, "code") == code && (system is null || String(coding, "system") == system))
                return true;
        return false;
    }

    /// <summary>A full FHIR date, or the date part of a dateTime; null for partial dates (year or year-month), which name no single day.</summary>
    public static DateOnly? Date(string? value) =>
        value is { Length: >= 10 }
        && DateOnly.TryParseExact(value.AsSpan(0, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
        && (value.Length == 10 || value[10] == 'T')
            ? date
            : null;

    /// <summary>
    /// The patient id a reference points to: <c>Patient/{id}</c>, an absolute <c>…/Patient/{id}</c>,
    /// or <c>urn:uuid:{id}</c> as in transaction bundles; null for anything else.
    /// </summary>
    public static string? PatientId(string? reference)
    {
        if (string.IsNullOrEmpty(reference)) return null;
        const string uuid = "urn:uuid:";
        if (reference.StartsWith(uuid, StringComparison.Ordinal))
            return reference.Length > uuid.Length ? reference[uuid.Length..] : null;
        var history = reference.IndexOf("/_history/", StringComparison.Ordinal);
        if (history >= 0) reference = reference[..history];
        string? id = null;
        if (reference.StartsWith("Patient/", StringComparison.Ordinal)) id = reference["Patient/".Length..];
        else if (reference.Contains("://", StringComparison.Ordinal) && reference.LastIndexOf("/Patient/", StringComparison.Ordinal) is var at and >= 0)
            id = reference[(at + "/Patient/".Length)..];
        return string.IsNullOrEmpty(id) || id.Contains('/') ? null : id;
    }
}
