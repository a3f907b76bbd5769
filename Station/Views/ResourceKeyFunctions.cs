using System.Text.RegularExpressions;
using Hl7.Fhir.Model;
using Hl7.FhirPath.Expressions;

namespace HealthTrain.Station.Views;

/// <summary>SQL-on-FHIR's <c>getResourceKey()</c> and <c>getReferenceKey([type])</c>: join keys that match between a resource and references to it.</summary>
/// <remarks>The key is <c>Type/id</c>, so keys of different resource types never collide.</remarks>
internal static partial class ResourceKeyFunctions
{
    public const string GetResourceKey = "getResourceKey";
    public const string GetReferenceKey = "getReferenceKey";

    [GeneratedRegex("^[A-Z][A-Za-z]*$")]
    private static partial Regex ResourceTypePattern();

    public static void Register(SymbolTable table)
    {
        table.Add(GetResourceKey, (IEnumerable<PocoNode> focus) => ResourceKeys(focus), doNullProp: false);
        table.Add(GetReferenceKey, (IEnumerable<PocoNode> focus) => ReferenceKeys(focus, null), doNullProp: false);
        table.Add(GetReferenceKey, (IEnumerable<PocoNode> focus, string type) => ReferenceKeys(focus, type), doNullProp: false);
    }

    private static IEnumerable<PocoNode> ResourceKeys(IEnumerable<PocoNode> focus) =>
        focus
            .Select(node => node.Poco is Resource { Id: { Length: > 0 } id } resource ? $"{resource.TypeName}/{id}" : null)
            .OfType<string>()
            .Select(key => PocoNode.ForAnyPrimitive(key))
            .ToList();

    private static IEnumerable<PocoNode> ReferenceKeys(IEnumerable<PocoNode> focus, string? type)
    {
        // Type specifiers may be qualified (FHIR.Patient).
        var wanted = type?.StartsWith("FHIR.", StringComparison.Ordinal) == true ? type[5..] : type;
        return focus
            .Select(node => node.Poco is ResourceReference reference ? KeyOf(reference.Reference) : null)
            .OfType<(string Type, string Key)>()
            .Where(key => wanted is null || key.Type == wanted)
            .Select(key => PocoNode.ForAnyPrimitive(key.Key))
            .ToList();
    }

    /// <summary>The <c>Type/id</c> key of a relative or absolute literal reference; null for contained (#id), urn: or malformed references.</summary>
    internal static (string Type, string Key)? KeyOf(string? reference)
    {
        if (string.IsNullOrEmpty(reference) || reference.StartsWith('#') || reference.StartsWith("urn:", StringComparison.Ordinal))
            return null;

        var end = reference.IndexOfAny(['?', '#']);
        var segments = (end >= 0 ? reference[..end] : reference).Split('/');
        // Versioned references (Patient/1/_history/2) name the same resource.
        var history = Array.LastIndexOf(segments, "_history");
        var count = history >= 0 ? history : segments.Length;
        if (count < 2) return null;

        var (resourceType, id) = (segments[count - 2], segments[count - 1]);
        if (!ResourceTypePattern().IsMatch(resourceType) || id.Length == 0) return null;
        return (resourceType, $"{resourceType}/{id}");
    }
}
