using System.Text.Json;
using System.Text.RegularExpressions;

namespace HealthTrain.Trains.Protocol;

/// <summary>One problem in a document: where it is (a JSON path such as <c>$.outputs.statistics[2].bins</c>) and what is wrong.</summary>
public sealed record ValidationError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>Thrown when a protocol document is invalid; carries every error found, not just the first.</summary>
public sealed class ProtocolValidationException(string what, IReadOnlyList<ValidationError> errors)
    : Exception($"{what} is invalid:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}

/// <summary>Parses and validates train manifests, reporting each problem with its field path.</summary>
public static partial class ManifestValidator
{
    [GeneratedRegex("^[a-z0-9]+(?:[._-][a-z0-9]+)*$")]
    private static partial Regex TrainNamePattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
    private static partial Regex VersionPattern();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex IdentifierPattern();

    [GeneratedRegex("^[A-Z][A-Za-z]{1,63}$")]
    private static partial Regex ResourceTypePattern();

    private static readonly string[] ParameterTypes = ["string", "integer", "number", "boolean", "date"];
    private static readonly string[] Dtypes = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"];

    /// <summary>Parses <paramref name="json"/> and validates it; errors is empty exactly when a manifest is returned.</summary>
    public static (TrainManifest? Manifest, IReadOnlyList<ValidationError> Errors) Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
            return (null, [new("$", $"the manifest is missing: the image has no '{TrainManifest.LabelKey}' label")]);
        TrainManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TrainManifest>(json, ProtocolJson.Options);
        }
        catch (JsonException e)
        {
            var path = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
            return (null, [new(path, "not valid manifest JSON: " + FirstSentence(e.Message))]);
        }
        if (manifest is null) return (null, [new("$", "the manifest is null")]);
        var errors = Validate(manifest);
        return errors.Count == 0 ? (manifest, errors) : (null, errors);
    }

    /// <summary>Parses and validates, throwing <see cref="ProtocolValidationException"/> on any error.</summary>
    public static TrainManifest ParseOrThrow(string? json)
    {
        var (manifest, errors) = Parse(json);
        return manifest ?? throw new ProtocolValidationException("train manifest", errors);
    }

    /// <summary>Checks every rule of docs/train-contract.md.</summary>
    public static IReadOnlyList<ValidationError> Validate(TrainManifest m)
    {
        var e = new List<ValidationError>();
        if (m.Format != TrainManifest.CurrentFormat)
            e.Add(new("$.format", $"unsupported manifest format {m.Format}; this platform reads format {TrainManifest.CurrentFormat}"));
        if (!TrainNamePattern().IsMatch(m.Name ?? ""))
            e.Add(new("$.name", $"'{m.Name}' is not a valid train name: use lower-case letters, digits and single '.', '_' or '-' between them"));
        if (!VersionPattern().IsMatch(m.Version ?? ""))
            e.Add(new("$.version", $"'{m.Version}' is not a valid version: 1 to 64 letters, digits, '.', '_', '+' or '-'"));
        if (m.Authors is null || m.Authors.Count == 0)
            e.Add(new("$.authors", "at least one author is required"));
        else
            for (var i = 0; i < m.Authors.Count; i++)
                if (string.IsNullOrWhiteSpace(m.Authors[i])) e.Add(new($"$.authors[{i}]", "an author must not be empty"));
        if (!TrainKinds.All.Contains(m.Kind))
            e.Add(new("$.kind", $"'{m.Kind}' is not a train kind; expected one of: {string.Join(", ", TrainKinds.All)}"));

        // An explicit null would be stored and compared differently from an empty list: refuse it.
        var before = e.Count;
        if (m.Outputs is null) e.Add(new("$.outputs", "must be an object, not null"));
        else
        {
            if (m.Outputs.Statistics is null) e.Add(new("$.outputs.statistics", "must be a list, not null"));
            if (m.Outputs.Tensors is null) e.Add(new("$.outputs.tensors", "must be a list, not null"));
        }
        if (m.Parameters is null) e.Add(new("$.parameters", "must be a list, not null"));
        if (e.Count > before) return e;

        ValidateInputs(m, e);
        ValidateOutputs(m, e);
        ValidateParameters(m, e);
        ValidateResources(m.Resources, e);
        return e;
    }

    private static void ValidateInputs(TrainManifest m, List<ValidationError> e)
    {
        if (m.Inputs is null || m.Inputs.Count == 0)
        {
            e.Add(new("$.inputs", "at least one input is required: a train that reads no data needs no station"));
            return;
        }
        var seen = new HashSet<string>();
        var names = new HashSet<string>();
        for (var i = 0; i < m.Inputs.Count; i++)
        {
            var input = m.Inputs[i];
            var path = $"$.inputs[{i}]";
            if (input is null) { e.Add(new(path, "an input must not be null")); continue; }
            switch (input.Kind)
            {
                case InputKinds.FhirResources:
                    if (input.Name is not null || input.View is not null || input.Format is not null)
                        e.Add(new(path, "a fhir-resources input takes only resourceType"));
                    if (!ResourceTypePattern().IsMatch(input.ResourceType ?? ""))
                        e.Add(new(path + ".resourceType", $"'{input.ResourceType}' is not a FHIR resource type name (e.g. Patient, Observation)"));
                    else if (!seen.Add(input.ResourceType!))
                        e.Add(new(path + ".resourceType", $"'{input.ResourceType}' is declared twice"));
                    break;
                case InputKinds.View:
                    if (input.ResourceType is not null) e.Add(new(path + ".resourceType", "a view input names its resource inside the view"));
                    if (!IdentifierPattern().IsMatch(input.Name ?? ""))
                        e.Add(new(path + ".name", $"'{input.Name}' is not a valid name: lower-case letters, digits and '_', starting with a letter"));
                    else if (!names.Add(input.Name!))
                        e.Add(new(path + ".name", $"'{input.Name}' is declared twice"));
                    if (input.Format is not null && !InputKinds.ViewFormats.Contains(input.Format))
                        e.Add(new(path + ".format", $"'{input.Format}' is not a view format; expected one of: {string.Join(", ", InputKinds.ViewFormats)}"));
                    ValidateViewShape(input.View, path + ".view", e);
                    break;
                case InputKinds.ImageCollection:
                    if (input.ResourceType is not null || input.View is not null || input.Format is not null)
                        e.Add(new(path, "an image-collection input takes only name"));
                    if (!IdentifierPattern().IsMatch(input.Name ?? ""))
                        e.Add(new(path + ".name", $"'{input.Name}' is not a valid name: lower-case letters, digits and '_', starting with a letter"));
                    else if (!names.Add(input.Name!))
                        e.Add(new(path + ".name", $"'{input.Name}' is declared twice"));
                    break;
                default:
                    e.Add(new(path + ".kind", $"'{input.Kind}' is not an input kind; expected one of: {string.Join(", ", InputKinds.All)}"));
                    break;
            }
        }
    }

    /// <summary>
    /// The outline of a ViewDefinition (the station compiles it fully before anything runs): an object naming a resource
    /// type with at least one select. A view still given by name was not resolved by <c>healthtrain train build</c>.
    /// </summary>
    private static void ValidateViewShape(JsonElement? view, string path, List<ValidationError> e)
    {
        if (view is not { } v) { e.Add(new(path, "a view input needs its ViewDefinition")); return; }
        if (v.ValueKind == JsonValueKind.String)
        {
            e.Add(new(path, $"the view '{v.GetString()}' is named but not included: 'healthtrain train build' puts the ViewDefinition into the image"));
            return;
        }
        if (v.ValueKind != JsonValueKind.Object) { e.Add(new(path, "must be a ViewDefinition object")); return; }
        if (!v.TryGetProperty("resource", out var resource) || resource.ValueKind != JsonValueKind.String || !ResourceTypePattern().IsMatch(resource.GetString()!))
            e.Add(new(path + ".resource", "must name the FHIR resource type the view reads"));
        if (!v.TryGetProperty("select", out var select) || select.ValueKind != JsonValueKind.Array || select.GetArrayLength() == 0)
            e.Add(new(path + ".select", "must list at least one select"));
    }

    private static void ValidateOutputs(TrainManifest m, List<ValidationError> e)
    {
        var outputs = m.Outputs ?? new TrainOutputs();
        var statistics = outputs.Statistics ?? [];
        var tensors = outputs.Tensors ?? [];
        if (m.Kind == TrainKinds.Statistics && statistics.Count == 0)
            e.Add(new("$.outputs.statistics", "a statistics train must declare at least one statistic"));
        if (m.Kind == TrainKinds.Statistics && tensors.Count > 0)
            e.Add(new("$.outputs.tensors", "a statistics train may not emit tensors; use kind 'training'"));
        if (m.Kind == TrainKinds.Training && tensors.Count == 0)
            e.Add(new("$.outputs.tensors", "a training train must declare at least one tensor"));

        var names = new HashSet<string>();
        for (var i = 0; i < statistics.Count; i++)
        {
            var s = statistics[i];
            var path = $"$.outputs.statistics[{i}]";
            if (s is null) { e.Add(new(path, "a statistic must not be null")); continue; }
            if (!IdentifierPattern().IsMatch(s.Name ?? ""))
                e.Add(new(path + ".name", $"'{s.Name}' is not a valid name: lower-case letters, digits and '_', starting with a letter"));
            else if (!names.Add(s.Name!))
                e.Add(new(path + ".name", $"'{s.Name}' is declared twice"));
            if (!StatisticKinds.All.Contains(s.Kind))
            {
                e.Add(new(path + ".kind", $"'{s.Kind}' is not a statistic kind; expected one of: {string.Join(", ", StatisticKinds.All)}"));
                continue;
            }
            if (s.Categories is not null)
            {
                if (s.Kind is not (StatisticKinds.Count or StatisticKinds.Sum))
                    e.Add(new(path + ".categories", $"categories are allowed only for 'count' and 'sum', not '{s.Kind}'"));
                else if (s.Categories.Count == 0)
                    e.Add(new(path + ".categories", "categories, when given, must list at least one category"));
                else
                {
                    var seenCategories = new HashSet<string>();
                    for (var c = 0; c < s.Categories.Count; c++)
                        if (string.IsNullOrEmpty(s.Categories[c]) || !seenCategories.Add(s.Categories[c]))
                            e.Add(new($"{path}.categories[{c}]", $"'{s.Categories[c]}' is empty or repeated"));
                }
            }
            if (s.Kind == StatisticKinds.Histogram)
            {
                if (s.Bins is null || s.Bins.Count < 2)
                    e.Add(new(path + ".bins", "a histogram needs at least two bin edges"));
                else
                    for (var b = 0; b < s.Bins.Count; b++)
                    {
                        if (!double.IsFinite(s.Bins[b])) e.Add(new($"{path}.bins[{b}]", "bin edges must be finite numbers"));
                        else if (b > 0 && !(s.Bins[b] > s.Bins[b - 1])) e.Add(new($"{path}.bins[{b}]", "bin edges must be strictly ascending"));
                    }
            }
            else if (s.Bins is not null)
                e.Add(new(path + ".bins", $"bins are allowed only for 'histogram', not '{s.Kind}'"));
        }

        for (var i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            var path = $"$.outputs.tensors[{i}]";
            if (t is null) { e.Add(new(path, "a tensor must not be null")); continue; }
            if (!IdentifierPattern().IsMatch(t.Name ?? ""))
                e.Add(new(path + ".name", $"'{t.Name}' is not a valid name: lower-case letters, digits and '_', starting with a letter"));
            else if (!names.Add(t.Name!))
                e.Add(new(path + ".name", $"'{t.Name}' is declared twice (names are shared by statistics and tensors)"));
            if (t.Shape is null || t.Shape.Count == 0)
                e.Add(new(path + ".shape", "a tensor needs a shape with at least one dimension"));
            else
                for (var d = 0; d < t.Shape.Count; d++)
                    if (t.Shape[d] <= 0) e.Add(new($"{path}.shape[{d}]", "dimensions must be positive"));
            if (!Dtypes.Contains(t.Dtype))
                e.Add(new(path + ".dtype", $"'{t.Dtype}' is not a dtype; expected one of: {string.Join(", ", Dtypes)}"));
        }
    }

    private static void ValidateParameters(TrainManifest m, List<ValidationError> e)
    {
        var names = new HashSet<string>();
        var parameters = m.Parameters ?? [];
        for (var i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i];
            var path = $"$.parameters[{i}]";
            if (p is null) { e.Add(new(path, "a parameter must not be null")); continue; }
            if (!IdentifierPattern().IsMatch(p.Name ?? ""))
                e.Add(new(path + ".name", $"'{p.Name}' is not a valid name: lower-case letters, digits and '_', starting with a letter"));
            else if (!names.Add(p.Name!))
                e.Add(new(path + ".name", $"'{p.Name}' is declared twice"));
            if (!ParameterTypes.Contains(p.Type))
                e.Add(new(path + ".type", $"'{p.Type}' is not a parameter type; expected one of: {string.Join(", ", ParameterTypes)}"));
            else if (p.Default is { } d && ParameterValues.Check(p.Type, d) is { } problem)
                e.Add(new(path + ".default", problem));
        }
    }

    private static void ValidateResources(TrainResources? r, List<ValidationError> e)
    {
        if (r is null) { e.Add(new("$.resources", "resources must not be null")); return; }
        if (!(r.Cpus > 0 && r.Cpus <= 256)) e.Add(new("$.resources.cpus", $"{r.Cpus} is out of range: more than 0 and at most 256"));
        if (r.MemoryMb < 16 || r.MemoryMb > 1024 * 1024) e.Add(new("$.resources.memoryMb", $"{r.MemoryMb} is out of range: 16 to 1048576 MiB"));
        if (r.Gpus < 0 || r.Gpus > 16) e.Add(new("$.resources.gpus", $"{r.Gpus} is out of range: 0 to 16"));
        if (r.TimeoutSeconds < 1 || r.TimeoutSeconds > 7 * 24 * 3600) e.Add(new("$.resources.timeoutSeconds", $"{r.TimeoutSeconds} is out of range: 1 to 604800 seconds"));
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut].TrimEnd('.') : message;
    }
}
