using Hl7.Fhir.Model;
using Hl7.FhirPath.Expressions;

namespace HealthTrain.Station.Views;

/// <summary>FHIRPath's <c>join([separator])</c> as SQL-on-FHIR expects it: an empty collection joins to the empty string, not to nothing.</summary>
/// <remarks>Firely returns an empty collection there, which would turn an empty list of names into a null column.</remarks>
internal static class JoinFunction
{
    /// <summary>The name calls to <c>join</c> are rewritten to (see <see cref="ViewFhirPath"/>).</summary>
    public const string Name = "view.join";

    public static void Register(SymbolTable table)
    {
        table.Add(Name, (IEnumerable<PocoNode> focus) => Join(focus, ""), doNullProp: false);
        table.Add(Name, (IEnumerable<PocoNode> focus, string separator) => Join(focus, separator), doNullProp: false);
    }

    private static string Join(IEnumerable<PocoNode> focus, string? separator) =>
        string.Join(separator ?? "", focus.Select(node => node.GetValue() as string
            ?? throw new InvalidOperationException($"join() applies to strings, not to {node.Poco?.TypeName ?? "null"}")));
}
