using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Trains.Protocol;

/// <summary>Resolves the parameters a run passes to a train against the manifest's declarations.</summary>
public static class ParameterValues
{
    /// <summary>Null when <paramref name="value"/> fits <paramref name="type"/>, else what is wrong.</summary>
    public static string? Check(string type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String ? null : "must be a string",
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _) ? null : "must be an integer",
        "number" => value.ValueKind == JsonValueKind.Number ? null : "must be a number",
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : "must be true or false",
        "date" => value.ValueKind == JsonValueKind.String
                  && DateOnly.TryParseExact(value.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _)
            ? null : "must be a date written yyyy-MM-dd",
        _ => $"unknown parameter type '{type}'",
    };

    /// <summary>
    /// Merges the run's values over the manifest's defaults. Unknown names, wrong types and
    /// parameters with neither a value nor a default are errors.
    /// </summary>
    public static (JsonObject Values, IReadOnlyList<ValidationError> Errors) Resolve(TrainManifest manifest, IReadOnlyDictionary<string, JsonElement>? given)
    {
        var errors = new List<ValidationError>();
        var values = new JsonObject();
        given ??= new Dictionary<string, JsonElement>();
        var declared = manifest.Parameters.ToDictionary(p => p.Name);
        foreach (var name in given.Keys.Where(k => !declared.ContainsKey(k)))
            errors.Add(new($"$.parameters.{name}", $"the train declares no parameter '{name}'"));
        foreach (var p in manifest.Parameters)
        {
            if (given.TryGetValue(p.Name, out var v))
            {
                if (Check(p.Type, v) is { } problem) errors.Add(new($"$.parameters.{p.Name}", problem));
                else values[p.Name] = JsonNode.Parse(v.GetRawText());
            }
            else if (p.Default is { } d) values[p.Name] = JsonNode.Parse(d.GetRawText());
            else errors.Add(new($"$.parameters.{p.Name}", "is required: the train gives no default"));
        }
        return (values, errors);
    }
}
