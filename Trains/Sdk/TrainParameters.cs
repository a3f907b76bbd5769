using System.Globalization;
using System.Text.Json;

namespace HealthTrain.Trains.Sdk;

/// <summary>The resolved run parameters from <c>/input/parameters.json</c>, read by name and type.</summary>
public sealed class TrainParameters
{
    private readonly JsonElement values;
    private readonly string source;

    private TrainParameters(JsonElement values, string source)
    {
        this.values = values;
        this.source = source;
    }

    /// <summary>Reads <paramref name="path"/>; a missing file means no parameters (a train that declares none needs none).</summary>
    public static TrainParameters Load(string path)
    {
        if (!File.Exists(path)) return new(default, $"{path} (which does not exist)");
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            root = document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TrainInputException($"{path} is not valid JSON: {e.Message}", e);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new TrainInputException($"{path} must hold a JSON object of parameter values, not {root.ValueKind}");
        return new(root, path);
    }

    public string GetString(string name)
    {
        var value = Get(name);
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw WrongType(name, value, "a string");
    }

    public int GetInt(string name)
    {
        var value = Get(name);
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var x) ? x : throw WrongType(name, value, "an integer that fits 32 bits");
    }

    public double GetDouble(string name)
    {
        var value = Get(name);
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var x) && double.IsFinite(x) ? x : throw WrongType(name, value, "a number");
    }

    public bool GetBool(string name)
    {
        var value = Get(name);
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, value, "true or false"),
        };
    }

    /// <summary>A <c>date</c> parameter, written <c>yyyy-MM-dd</c> as the manifest requires.</summary>
    public DateOnly GetDate(string name)
    {
        var value = Get(name);
        return value.ValueKind == JsonValueKind.String
               && DateOnly.TryParseExact(value.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
            ? date
            : throw WrongType(name, value, "a date written yyyy-MM-dd");
    }

    private JsonElement Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (values.ValueKind == JsonValueKind.Object && values.TryGetProperty(name, out var value)) return value;
        throw new TrainInputException($"parameter '{name}' is missing from {source}");
    }

    private TrainInputException WrongType(string name, JsonElement value, string expected) =>
        new($"parameter '{name}' in {source} must be {expected}, but is {value.GetRawText()}");
}
