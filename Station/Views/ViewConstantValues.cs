using System.Globalization;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using Hl7.Fhir.Model;

namespace HealthTrain.Station.Views;

/// <summary>Turns a view's constants into FHIRPath values of their declared FHIR type, checking each value against that type.</summary>
internal static class ViewConstantValues
{
    /// <summary>The constant as a FHIRPath value, or null after adding a problem at <paramref name="path"/>.</summary>
    public static PocoNode? ToNode(ViewConstant constant, string path, List<ValidationError> errors)
    {
        var member = $"{path}.value{char.ToUpperInvariant(constant.ValueType[0])}{constant.ValueType[1..]}";
        try
        {
            var value = Create(constant.ValueType, constant.Value);
            if (value is null)
            {
                errors.Add(new(member, $"{Describe(constant.Value)} is not a valid {constant.ValueType}"));
                return null;
            }

            return PocoNode.ForPrimitive(value);
        }
        catch (Exception e) when (e is FormatException or OverflowException or InvalidOperationException or ArgumentException)
        {
            errors.Add(new(member, $"{Describe(constant.Value)} is not a valid {constant.ValueType}: {e.Message}"));
            return null;
        }
    }

    private static PrimitiveType? Create(string type, JsonElement value)
    {
        if (type is "boolean")
            return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? new FhirBoolean(value.GetBoolean()) : null;

        if (type is "decimal" or "integer" or "integer64" or "positiveInt" or "unsignedInt")
        {
            if (value.ValueKind != JsonValueKind.Number) return null;
            return type switch
            {
                "decimal" => new FhirDecimal(value.GetDecimal()),
                "integer" => new Integer(value.GetInt32()),
                "integer64" => new Integer64(value.GetInt64()),
                "positiveInt" => value.GetInt32() > 0 ? new PositiveInt(value.GetInt32()) : null,
                _ => value.GetInt32() >= 0 ? new UnsignedInt(value.GetInt32()) : null,
            };
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text) return null;
        return type switch
        {
            "base64Binary" => new Base64Binary(Convert.FromBase64String(text)),
            "canonical" => new Canonical(text),
            "code" => Code.IsValidValue(text) ? new Code(text) : null,
            "date" => Date.IsValidValue(text) ? new Date(text) : null,
            "dateTime" => FhirDateTime.IsValidValue(text) ? new FhirDateTime(text) : null,
            "id" => Id.IsValidValue(text) ? new Id(text) : null,
            "instant" => Instant.IsValidValue(text)
                ? new Instant(DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.None))
                : null,
            "oid" => Oid.IsValidValue(text) ? new Oid(text) : null,
            "string" => new FhirString(text),
            "time" => Time.IsValidValue(text) ? new Time(text) : null,
            "uri" => new FhirUri(text),
            "url" => new FhirUrl(text),
            "uuid" => Uuid.IsValidValue(text) ? new Uuid(text) : null,
            _ => null,
        };
    }

    private static string Describe(JsonElement value) => value.ValueKind == JsonValueKind.String ? $"'{value.GetString()}'" : value.GetRawText();
}
