using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>
/// What a running train sees of its station: parameters and FHIR resources under the input folder,
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
        return ReadNdjson(Path.Combine(InputDirectory, "fhir", resourceType + ".ndjson"), resourceType);
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

    private static IEnumerable<JsonElement> ReadNdjson(string path, string resourceType)
    {
        if (!File.Exists(path)) yield break;
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonElement resource;
            try
            {
                using var document = JsonDocument.Parse(line);
                resource = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new TrainInputException($"{path}, line {lineNumber}: not valid JSON: {e.Message}", e);
            }
            if (resource.ValueKind != JsonValueKind.Object)
                throw new TrainInputException($"{path}, line {lineNumber}: a resource must be a JSON object, not {resource.ValueKind}");
            if (resource.TryGetProperty("resourceType", out var type) && !type.ValueEquals(resourceType))
                throw new TrainInputException($"{path}, line {lineNumber}: holds a {type.GetRawText()} resource where {resourceType} was expected");
            yield return resource;
        }
    }
}
