using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Station.Views;

/// <summary>Compares a view's rows with a test's expected rows the way the official runner does: as a multiset (row order is not significant), numbers by value.</summary>
internal static class ConformanceRows
{
    /// <summary>Null when <paramref name="actual"/> holds exactly the expected rows; otherwise why not.</summary>
    public static string? Mismatch(IReadOnlyList<JsonObject> actual, JsonElement expected)
    {
        var wanted = expected.EnumerateArray().Select(e => JsonNode.Parse(e.GetRawText())).ToList();
        var unmatched = actual.ToList();
        var missing = new List<JsonNode?>();
        foreach (var row in wanted)
        {
            var index = unmatched.FindIndex(candidate => Same(candidate, row));
            if (index < 0) missing.Add(row);
            else unmatched.RemoveAt(index);
        }

        if (missing.Count == 0 && unmatched.Count == 0) return null;
        var reason = $"expected {wanted.Count} rows, got {actual.Count}";
        if (missing.Count > 0) reason += $"; missing {string.Join(", ", missing.Select(Text))}";
        if (unmatched.Count > 0) reason += $"; unexpected {string.Join(", ", unmatched.Select(Text))}";
        return reason;
    }

    /// <summary>Deep JSON equality where numbers are equal by value (5 equals 5.0) and object members by name.</summary>
    public static bool Same(JsonNode? a, JsonNode? b) => (a, b) switch
    {
        (null, null) => true,
        (JsonObject x, JsonObject y) => x.Count == y.Count && x.All(p => y.TryGetPropertyValue(p.Key, out var other) && Same(p.Value, other)),
        (JsonArray x, JsonArray y) => x.Count == y.Count && x.Zip(y).All(pair => Same(pair.First, pair.Second)),
        (JsonValue x, JsonValue y) => SameValue(x, y),
        _ => false,
    };

    private static bool SameValue(JsonValue a, JsonValue b)
    {
        var (kindA, kindB) = (a.GetValueKind(), b.GetValueKind());
        if (kindA != kindB) return false;
        return kindA switch
        {
            JsonValueKind.Number => decimal.Parse(a.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture)
                == decimal.Parse(b.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture),
            JsonValueKind.String => a.GetValue<string>() == b.GetValue<string>(),
            _ => true, // true, false: the kinds already say it
        };
    }

    private static string Text(JsonNode? row) => row?.ToJsonString() ?? "null";
}
