using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Station.Views;

/// <summary>Row values as JSON: the representation of NDJSON output and of the conformance comparison.</summary>
internal static class ViewRowJson
{
    public static void WriteRow(Utf8JsonWriter writer, IReadOnlyList<ViewColumn> columns, object?[] row)
    {
        writer.WriteStartObject();
        for (var i = 0; i < columns.Count; i++)
        {
            writer.WritePropertyName(columns[i].Name);
            WriteValue(writer, row[i]);
        }

        writer.WriteEndObject();
    }

    public static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string text: writer.WriteStringValue(text); break;
            case bool flag: writer.WriteBooleanValue(flag); break;
            case long number: writer.WriteNumberValue(number); break;
            case decimal number: writer.WriteNumberValue(number); break;
            case IEnumerable<object?> items:
                writer.WriteStartArray();
                foreach (var item in items) WriteValue(writer, item);
                writer.WriteEndArray();
                break;
            default: throw new InvalidOperationException($"a row value of type {value.GetType().Name} has no JSON form");
        }
    }

    public static JsonObject ToObject(IReadOnlyList<ViewColumn> columns, object?[] row)
    {
        var result = new JsonObject();
        for (var i = 0; i < columns.Count; i++)
        {
            result[columns[i].Name] = ToNode(row[i]);
        }

        return result;
    }

    public static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        string text => JsonValue.Create(text),
        bool flag => JsonValue.Create(flag),
        long number => JsonValue.Create(number),
        decimal number => JsonValue.Create(number),
        IEnumerable<object?> items => new JsonArray(items.Select(ToNode).ToArray()),
        _ => throw new InvalidOperationException($"a row value of type {value.GetType().Name} has no JSON form"),
    };

    /// <summary>A value as text for CSV and Parquet string columns: collections as a JSON array.</summary>
    public static string? ToText(object? value) => value switch
    {
        null => null,
        string text => text,
        bool flag => flag ? "true" : "false",
        long number => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        decimal number => number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => ToNode(value)!.ToJsonString(),
    };
}
