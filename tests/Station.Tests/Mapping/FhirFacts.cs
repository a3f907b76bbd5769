using System.Globalization;
using System.Text.Json;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>One observed value: an Observation's own value, or one component of a panel (with the panel's code kept apart).</summary>
public sealed record ObservationFact(
    string Patient,
    string Encounter,
    string Instant,
    string Category,
    string Code,
    string Kind,
    decimal Number,
    string Unit,
    string Text,
    string Panel);

/// <summary>
/// The comparison keys of the peer check, computed the same way from our resources and from Synthea's own FHIR, so
/// the only differences allowed are the normalizations written here (see fhir-mappings/README.md, "Peer check").
/// </summary>
public static class FhirFacts
{
    /// <summary>A reference's target id: <c>urn:uuid:X</c>, <c>Type/X</c>, or Synthea's conditional <c>Type?identifier=system|X</c>.</summary>
    public static string RefId(JsonElement resource, string element)
    {
        if (!resource.TryGetProperty(element, out var reference) || !reference.TryGetProperty("reference", out var value))
        {
            return "";
        }

        var text = value.GetString()!;
        if (text.StartsWith("urn:uuid:", StringComparison.Ordinal))
        {
            return text["urn:uuid:".Length..];
        }

        var bar = text.LastIndexOf('|');
        if (text.Contains('?', StringComparison.Ordinal) && bar >= 0)
        {
            return text[(bar + 1)..];
        }

        return text[(text.IndexOf('/', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>A date-time as the UTC instant it denotes (Synthea's FHIR writes local time with an offset, the CSV UTC); dates stay dates.</summary>
    public static string Instant(string text) =>
        text.Length <= 10
            ? text
            : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture).ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>(system, code) of a CodeableConcept's first coding.</summary>
    public static (string System, string Code) FirstCoding(JsonElement concept)
    {
        var coding = concept.GetProperty("coding")[0];
        return (coding.GetProperty("system").GetString()!, coding.GetProperty("code").GetString()!);
    }

    public static string Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.GetString() ?? "" : "";

    /// <summary>Synthea's CSV writer turns commas in text into spaces; the same is done to FHIR text before comparing.</summary>
    public static string NormalizeText(string text) => text.Replace(',', ' ');

    public static string ConditionKey(JsonElement c) =>
        string.Join(" | ",
            RefId(c, "subject"),
            RefId(c, "encounter"),
            FirstCoding(c.GetProperty("code")).ToString(),
            // The CSV has dates only: the local calendar date that Synthea's FHIR dateTime carries.
            Str(c, "onsetDateTime") is { Length: >= 10 } onset ? onset[..10] : "",
            Str(c, "abatementDateTime") is { Length: >= 10 } abatement ? abatement[..10] : "",
            FirstCoding(c.GetProperty("clinicalStatus")).Code);

    public static string MedicationRequestKey(JsonElement m, IReadOnlyDictionary<string, JsonElement> medications)
    {
        // Synthea's FHIR sometimes points to a Medication resource instead of carrying the code inline.
        var concept = m.TryGetProperty("medicationCodeableConcept", out var inline)
            ? inline
            : medications[RefId(m, "medicationReference")].GetProperty("code");
        return string.Join(" | ", RefId(m, "subject"), RefId(m, "encounter"), FirstCoding(concept).ToString(), Instant(Str(m, "authoredOn")), Str(m, "status"));
    }

    /// <summary>With <paramref name="withEnd"/> false the end is left out: the 2.x CSV layout's procedures.csv has DATE only.</summary>
    public static string ProcedureKey(JsonElement p, bool withEnd = true)
    {
        var period = p.GetProperty("performedPeriod");
        var end = withEnd && Str(period, "end") is { Length: > 0 } text ? Instant(text) : "";
        return string.Join(" | ", RefId(p, "subject"), RefId(p, "encounter"), FirstCoding(p.GetProperty("code")).ToString(), Instant(Str(period, "start")), end, Str(p, "status"));
    }

    public static string ImmunizationKey(JsonElement i) =>
        string.Join(" | ", RefId(i, "patient"), RefId(i, "encounter"), FirstCoding(i.GetProperty("vaccineCode")).ToString(), Instant(Str(i, "occurrenceDateTime")), Str(i, "status"));

    public static string EncounterKey(JsonElement e)
    {
        var period = e.GetProperty("period");
        return string.Join(" | ",
            RefId(e, "subject"),
            e.GetProperty("class").GetProperty("code").GetString(),
            FirstCoding(e.GetProperty("type")[0]).ToString(),
            Instant(Str(period, "start")),
            Instant(Str(period, "end")),
            e.TryGetProperty("reasonCode", out var reason) ? FirstCoding(reason[0]).Code : "",
            RefId(e, "serviceProvider"),
            Str(e, "status"));
    }

    /// <summary>The values of an Observation: its own value, or each component's (a panel has no value of its own).</summary>
    public static IEnumerable<ObservationFact> ObservationFacts(JsonElement o)
    {
        var patient = RefId(o, "subject");
        var encounter = RefId(o, "encounter");
        var instant = Instant(Str(o, "effectiveDateTime"));
        var category = o.TryGetProperty("category", out var categories) ? FirstCoding(categories[0]).Code : "";
        if (o.TryGetProperty("component", out var components))
        {
            var panel = FirstCoding(o.GetProperty("code")).Code;
            foreach (var component in components.EnumerateArray())
            {
                yield return Fact(component, patient, encounter, instant, category, panel);
            }
        }
        else
        {
            yield return Fact(o, patient, encounter, instant, category, "");
        }
    }

    private static ObservationFact Fact(JsonElement element, string patient, string encounter, string instant, string category, string panel)
    {
        var (system, code) = FirstCoding(element.GetProperty("code"));
        Assert.Equal("http://loinc.org", system);
        if (element.TryGetProperty("valueQuantity", out var quantity))
        {
            var unit = Str(quantity, "code") is { Length: > 0 } c ? c : Str(quantity, "unit");
            return new ObservationFact(patient, encounter, instant, category, code, "number", quantity.GetProperty("value").GetDecimal(), unit, "", panel);
        }

        if (element.TryGetProperty("valueCodeableConcept", out var concept))
        {
            var text = Str(concept, "text") is { Length: > 0 } t ? t : Str(concept.GetProperty("coding")[0], "display");
            return new ObservationFact(patient, encounter, instant, category, code, "text", 0, "", NormalizeText(text), panel);
        }

        if (element.TryGetProperty("valueString", out var value))
        {
            return new ObservationFact(patient, encounter, instant, category, code, "text", 0, "", NormalizeText(value.GetString()!), panel);
        }

        return new ObservationFact(patient, encounter, instant, category, code, "none", 0, "", "", panel);
    }

    /// <summary>How two numbers agree: exactly, or through one of the exports' roundings; null when they do not.</summary>
    public static string? NumberAgreement(decimal ours, decimal theirs)
    {
        if (ours == theirs)
        {
            return "exact";
        }

        // Synthea's CSV writer rounds to one decimal place (half up) what its FHIR writer gives at full precision.
        if (Math.Round(theirs, 1, MidpointRounding.AwayFromZero) == ours)
        {
            return "CSV rounded to 0.1";
        }

        // Its FHIR writer keeps 5 significant digits, which shows on large values the CSV has whole (PRAPARE income, 63586-2).
        if (ours != 0 && RoundSignificant(ours, 5) == theirs)
        {
            return "FHIR rounded to 5 significant digits";
        }

        return null;
    }

    private static decimal RoundSignificant(decimal value, int digits)
    {
        var exponent = (int)Math.Floor(Math.Log10((double)Math.Abs(value)));
        var scale = (decimal)Math.Pow(10, exponent - digits + 1);
        return Math.Round(value / scale, MidpointRounding.AwayFromZero) * scale;
    }

    /// <summary>
    /// Whether our fact (from the CSV) and Synthea's FHIR fact are the same value: same category and kind; numbers with
    /// the same UCUM unit code and agreeing by <see cref="NumberAgreement"/>; text equal after <see cref="NormalizeText"/>.
    /// </summary>
    public static bool SameValue(ObservationFact ours, ObservationFact theirs) =>
        ours.Category == theirs.Category
        && ours.Kind == theirs.Kind
        && (ours.Kind == "number"
            ? ours.Unit == theirs.Unit && NumberAgreement(ours.Number, theirs.Number) is not null
            : ours.Text == theirs.Text);
}
