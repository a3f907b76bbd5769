using System.Text.Json;
using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Views;

/// <summary>Reads ViewDefinition JSON into <see cref="ViewDefinition"/>, reporting every structural problem with its JSON path.</summary>
/// <remarks>
/// Members a ViewDefinition shares with every FHIR resource (url, status, meta, …) are ignored at the top level;
/// inside <c>select</c> and <c>column</c> an unknown member is an error, because a misspelt <c>forEach</c> would
/// otherwise silently change the rows.
/// </remarks>
public static partial class ViewDefinitionReader
{
    /// <summary>The <c>value[x]</c> types a constant may use (the ViewDefinition's constant.value[x] choices).</summary>
    public static readonly IReadOnlyList<string> ConstantTypes =
    [
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant", "integer",
        "integer64", "oid", "string", "positiveInt", "time", "unsignedInt", "uri", "url", "uuid",
    ];

    private static readonly HashSet<string> SelectMembers =
        ["column", "select", "forEach", "forEachOrNull", "repeat", "unionAll", "id", "extension", "modifierExtension"];

    private static readonly HashSet<string> ColumnMembers =
        ["name", "path", "type", "collection", "description", "tag", "id", "extension", "modifierExtension"];

    private static readonly HashSet<string> WhereMembers = ["path", "description", "id", "extension", "modifierExtension"];

    // The spec's sql-name rule: names must be usable unquoted as SQL identifiers.
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]*$")]
    private static partial Regex SqlNamePattern();

    [GeneratedRegex("^[A-Z][A-Za-z]*$")]
    private static partial Regex ResourceTypePattern();

    /// <summary>Parses <paramref name="json"/> and reads it; throws <see cref="ViewDefinitionException"/> listing every problem.</summary>
    public static ViewDefinition Parse(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return Read(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new ViewDefinitionException([new("$", "not valid JSON: " + e.Message)]);
        }
    }

    /// <summary>Reads a ViewDefinition; throws <see cref="ViewDefinitionException"/> listing every problem.</summary>
    public static ViewDefinition Read(JsonElement view)
    {
        var errors = new List<ValidationError>();
        var definition = ReadView(view, errors);
        if (errors.Count > 0 || definition is null) throw new ViewDefinitionException(errors);
        return definition;
    }

    private static ViewDefinition? ReadView(JsonElement view, List<ValidationError> errors)
    {
        if (view.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new("$", "a ViewDefinition must be a JSON object"));
            return null;
        }

        var resource = String(view, "resource", "$", errors, required: true);
        if (resource is not null && !ResourceTypePattern().IsMatch(resource))
            errors.Add(new("$.resource", $"'{resource}' is not a FHIR resource type name"));
        var name = String(view, "name", "$", errors, required: false);
        if (name is not null && !SqlNamePattern().IsMatch(name))
            errors.Add(new("$.name", $"'{name}' is not a valid view name: start with a letter, then letters, digits or '_'"));

        var constants = Items(view, "constant", "$", errors, required: false)
            .Select(item => ReadConstant(item.Element, item.Path, errors))
            .OfType<ViewConstant>()
            .ToList();
        var duplicate = constants.GroupBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) errors.Add(new("$.constant", $"constant '{duplicate.Key}' is defined more than once"));

        var select = ReadSelects(view, "select", "$", errors, required: true);
        var where = new List<string>();
        foreach (var (element, path) in Items(view, "where", "$", errors, required: false))
        {
            if (element.ValueKind != JsonValueKind.Object)
            {
                errors.Add(new(path, "a where clause must be an object with a 'path'"));
                continue;
            }

            RejectUnknown(element, WhereMembers, path, errors);
            if (String(element, "path", path, errors, required: true) is { } wherePath) where.Add(wherePath);
        }

        return resource is null ? null : new ViewDefinition(name, resource, constants, select, where);
    }

    private static ViewConstant? ReadConstant(JsonElement constant, string path, List<ValidationError> errors)
    {
        if (constant.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(path, "a constant must be an object with a 'name' and one value[x]"));
            return null;
        }

        var name = String(constant, "name", path, errors, required: true);
        if (name is not null && !SqlNamePattern().IsMatch(name))
            errors.Add(new($"{path}.name", $"'{name}' is not a valid constant name: start with a letter, then letters, digits or '_'"));

        var values = new List<(string Type, JsonElement Value)>();
        foreach (var member in constant.EnumerateObject())
        {
            if (member.Name is "name" or "id" or "extension") continue;
            var type = member.Name.StartsWith("value", StringComparison.Ordinal) && member.Name.Length > 5
                ? char.ToLowerInvariant(member.Name[5]) + member.Name[6..]
                : null;
            if (type is null || !ConstantTypes.Contains(type))
            {
                errors.Add(new($"{path}.{member.Name}", $"'{member.Name}' is not a member of a constant; the value must be one of value{string.Join(", value", ConstantTypes.Select(Capitalize))}"));
                continue;
            }

            values.Add((type, member.Value.Clone()));
        }

        if (values.Count != 1)
        {
            errors.Add(new(path, values.Count == 0
                ? $"constant '{name}' has no value: give exactly one value[x], e.g. valueString"
                : $"constant '{name}' has {values.Count} values: give exactly one value[x]"));
            return null;
        }

        return name is null ? null : new ViewConstant(name, values[0].Type, values[0].Value);
    }

    private static List<ViewSelect> ReadSelects(JsonElement parent, string member, string path, List<ValidationError> errors, bool required)
    {
        var selects = new List<ViewSelect>();
        foreach (var (element, itemPath) in Items(parent, member, path, errors, required))
        {
            if (ReadSelect(element, itemPath, errors) is { } select) selects.Add(select);
        }

        return selects;
    }

    private static ViewSelect? ReadSelect(JsonElement select, string path, List<ValidationError> errors)
    {
        if (select.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(path, "a select must be a JSON object"));
            return null;
        }

        RejectUnknown(select, SelectMembers, path, errors);
        var forEach = String(select, "forEach", path, errors, required: false);
        var forEachOrNull = String(select, "forEachOrNull", path, errors, required: false);
        var repeat = new List<string>();
        foreach (var (element, itemPath) in Items(select, "repeat", path, errors, required: false))
        {
            if (element.ValueKind == JsonValueKind.String && element.GetString() is { Length: > 0 } repeatPath)
                repeat.Add(repeatPath);
            else
                errors.Add(new(itemPath, "a repeat path must be a non-empty FHIRPath string"));
        }

        var iterations = (forEach is null ? 0 : 1) + (forEachOrNull is null ? 0 : 1) + (select.TryGetProperty("repeat", out _) ? 1 : 0);
        if (iterations > 1)
            errors.Add(new(path, "a select may have only one of forEach, forEachOrNull and repeat"));

        var columns = new List<ViewColumn>();
        foreach (var (element, itemPath) in Items(select, "column", path, errors, required: false))
        {
            if (ReadColumn(element, itemPath, errors) is { } column) columns.Add(column);
        }

        var nested = ReadSelects(select, "select", path, errors, required: false);
        var unionAll = ReadSelects(select, "unionAll", path, errors, required: false);
        return new ViewSelect(columns, nested, forEach, forEachOrNull, repeat, unionAll);
    }

    private static ViewColumn? ReadColumn(JsonElement column, string path, List<ValidationError> errors)
    {
        if (column.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(path, "a column must be a JSON object with 'name' and 'path'"));
            return null;
        }

        RejectUnknown(column, ColumnMembers, path, errors);
        var name = String(column, "name", path, errors, required: true);
        if (name is not null && !SqlNamePattern().IsMatch(name))
            errors.Add(new($"{path}.name", $"'{name}' is not a valid column name: start with a letter, then letters, digits or '_'"));
        var columnPath = String(column, "path", path, errors, required: true);
        var type = String(column, "type", path, errors, required: false);
        var description = String(column, "description", path, errors, required: false);
        var collection = false;
        if (column.TryGetProperty("collection", out var flag))
        {
            if (flag.ValueKind is JsonValueKind.True or JsonValueKind.False)
                collection = flag.GetBoolean();
            else
                errors.Add(new($"{path}.collection", "collection must be true or false"));
        }

        return name is null || columnPath is null ? null : new ViewColumn(name, columnPath, type, collection, description);
    }

    private static string? String(JsonElement parent, string member, string path, List<ValidationError> errors, bool required)
    {
        if (!parent.TryGetProperty(member, out var value))
        {
            if (required) errors.Add(new($"{path}.{member}", $"'{member}' is required"));
            return null;
        }

        if (value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text) return text;
        errors.Add(new($"{path}.{member}", $"'{member}' must be a non-empty string, not {Describe(value)}"));
        return null;
    }

    private static IEnumerable<(JsonElement Element, string Path)> Items(
        JsonElement parent, string member, string path, List<ValidationError> errors, bool required)
    {
        if (!parent.TryGetProperty(member, out var value))
        {
            if (required) errors.Add(new($"{path}.{member}", $"'{member}' is required"));
            return [];
        }

        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() == 0)
        {
            errors.Add(new($"{path}.{member}", $"'{member}' must be a non-empty array, not {Describe(value)}"));
            return [];
        }

        return value.EnumerateArray().Select((element, i) => (element, $"{path}.{member}[{i}]")).ToList();
    }

    private static void RejectUnknown(JsonElement element, HashSet<string> known, string path, List<ValidationError> errors)
    {
        foreach (var member in element.EnumerateObject())
        {
            if (!known.Contains(member.Name))
                errors.Add(new($"{path}.{member.Name}", $"unknown member '{member.Name}'; expected one of {string.Join(", ", known)}"));
        }
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "an empty string",
        JsonValueKind.Array => value.GetArrayLength() == 0 ? "an empty array" : "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"the boolean {value.GetRawText()}",
        _ => "null",
    };

    private static string Capitalize(string type) => char.ToUpperInvariant(type[0]) + type[1..];
}
