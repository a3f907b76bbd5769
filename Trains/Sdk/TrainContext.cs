using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>
/// What a running train sees of its station: parameters, view rows and FHIR resources under the input folder,
/// and the output folder its statistics go to.
/// </summary>
public sealed partial class TrainContext
{
    /// <summary>Overrides <c>/input</c>, for running a train outside a station.</summary>
    public const string InputVariable = "HEALTHTRAIN_INPUT";

    /// <summary>Overrides <c>/output</c>, for running a train outside a station.</summary>
    public const string OutputVariable = "HEALTHTRAIN_OUTPUT";

    /// <summary>The parameters file under the input folder.</summary>
    public const string ParametersFileName = "parameters.json";

    private readonly Lazy<TrainParameters> parameters;

    public TrainContext(string inputDirectory, string outputDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputDirectory);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        InputDirectory = inputDirectory;
        OutputDirectory = outputDirectory;
        // Loaded on first use, so a train without parameters never touches the file.
        parameters = new(() => TrainParameters.Load(Path.Combine(InputDirectory, ParametersFileName)));
    }

    /// <summary>The station's mounts, <c>/input</c> and <c>/output</c>, unless the environment overrides them.</summary>
    public static TrainContext FromEnvironment() => new(
        Environment.GetEnvironmentVariable(InputVariable) is { Length: > 0 } input ? input : "/input",
        Environment.GetEnvironmentVariable(OutputVariable) is { Length: > 0 } output ? output : "/output");

    public string InputDirectory { get; }
    public string OutputDirectory { get; }

    /// <summary>The run's resolved parameter values; throws <see cref="TrainInputException"/> if the file is unreadable.</summary>
    public TrainParameters Parameters => parameters.Value;

    /// <summary>
    /// Streams <c>fhir/{resourceType}.ndjson</c> one resource per line; no file means no resources.
    /// Each element owns its memory, so it stays valid after the enumeration moves on.
    /// A malformed line throws <see cref="TrainInputException"/> naming the file and line.
    /// </summary>
    public IEnumerable<JsonElement> ReadResources(string resourceType)
    {
        // Checked here, not in the iterator, so a bad name fails at the call; it also keeps the path inside /input/fhir.
        if (resourceType is null || !ResourceTypePattern().IsMatch(resourceType))
            throw new ArgumentException($"'{resourceType}' is not a FHIR resource type name (e.g. Patient, Observation)", nameof(resourceType));
        return ReadNdjson(Path.Combine(InputDirectory, "fhir", resourceType + ".ndjson"), "resource", resourceType, missingIsEmpty: true);
    }

    /// <summary>
    /// Streams the rows of the view input <paramref name="name"/> from <c>views/{name}.ndjson</c>, one JSON object per line
    /// whose members are the view's columns (null where a column has no value).
    /// Each element owns its memory, so it stays valid after the enumeration moves on.
    /// The station writes every declared view, even one without rows, so a missing file throws
    /// <see cref="TrainInputException"/> at the call; a malformed line throws it naming the file and line.
    /// </summary>
    public IEnumerable<JsonElement> ReadView(string name)
    {
        // Checked here, not in the iterator, so a bad name fails at the call; it also keeps the path inside /input/views.
        if (name is null || !ViewNamePattern().IsMatch(name))
            throw new ArgumentException($"'{name}' is not a view input name (lower-case letters, digits and '_', starting with a letter)", nameof(name));
        var path = Path.Combine(InputDirectory, "views", name + ".ndjson");
        if (!File.Exists(path))
            throw new TrainInputException($"view input '{name}' was not delivered: {path} does not exist (a station writes every declared view, even one without rows)");
        return ReadNdjson(path, "row", null, missingIsEmpty: false);
    }

    /// <summary>Writes <c>statistics.json</c> to the output folder and returns its path.</summary>
    public string WriteStatistics(StatisticsResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        // Serialized before the file is opened, so a failure leaves no half-written result behind.
        var bytes = JsonSerializer.SerializeToUtf8Bytes(result, ProtocolJson.Options);
        Directory.CreateDirectory(OutputDirectory);
        var path = Path.Combine(OutputDirectory, StatisticsResult.FileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [GeneratedRegex("^[A-Z][A-Za-z]{1,63}$")]
    private static partial Regex ResourceTypePattern();

    /// <summary>The manifest's rule for a view input's name.</summary>
    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex ViewNamePattern();

    /// <summary>
    /// One JSON object (a <paramref name="what"/>) per non-blank line; <paramref name="resourceType"/>, when given, is what a
    /// <c>resourceType</c> member must say.
    /// </summary>
    private static IEnumerable<JsonElement> ReadNdjson(string path, string what, string? resourceType, bool missingIsEmpty)
    {
        if (missingIsEmpty && !File.Exists(path)) yield break;
        using var reader = OpenText(path);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement element;
            try
            {
                using var document = JsonDocument.Parse(line);
                element = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new TrainInputException($"{path}, line {lineNumber}: not valid JSON: {e.Message}", e);
            }
            if (element.ValueKind != JsonValueKind.Object)
                throw new TrainInputException($"{path}, line {lineNumber}: a {what} must be a JSON object, not {element.ValueKind}");
            if (resourceType is not null && element.TryGetProperty("resourceType", out var type) && !type.ValueEquals(resourceType))
                throw new TrainInputException($"{path}, line {lineNumber}: holds a {type.GetRawText()} resource where {resourceType} was expected");
            yield return element;
        }
    }

    private static StreamReader OpenText(string path)
    {
        try
        {
            return new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // There when the train asked for it, gone when it started reading.
            throw new TrainInputException($"{path} does not exist", e);
        }
    }
}
