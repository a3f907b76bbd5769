using Hl7.Fhir.Model;
using P = Hl7.Fhir.ElementModel.Types;

namespace HealthTrain.Station.Views;

/// <summary>Turns FHIRPath results into row values: null, <see cref="string"/>, <see cref="bool"/>, <see cref="long"/>, <see cref="decimal"/>, or a list of those for collection columns.</summary>
/// <remarks>
/// Dates, date-times and times stay text exactly as FHIR wrote them, so their precision (a year, a day, a
/// second) survives; a complex value (a HumanName, a Reference) is an error, because a view's columns are
/// meant to be small declared primitives.
/// </remarks>
internal static class ViewValues
{
    public static object? ToValue(PocoNode node, ViewColumn column) => node.GetValue() switch
    {
        null when node.Poco is null or PrimitiveType => null,
        null => throw new ViewEvaluationException(
            $"column '{column.Name}' ('{column.Path}') returned a {node.Poco.TypeName}, not a primitive value; select one of its elements, e.g. '{column.Path}.{FirstElementName(node.Poco)}'"),
        string text => text,
        bool flag => flag,
        int number => (long)number,
        long number => number,
        decimal number => number,
        P.Date or P.DateTime or P.Time or P.Quantity => node.GetValue()!.ToString(),
        byte[] bytes => Convert.ToBase64String(bytes),
        var other => Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string FirstElementName(Base poco) =>
        poco.EnumerateElements().Select(e => e.Key).FirstOrDefault() ?? "value";
}
