using System.Text.Json;
using System.Text.Json.Serialization;

namespace HealthTrain.Trains.Protocol;

/// <summary>What a train declares about itself: stored as the image label <see cref="LabelKey"/>.</summary>
public sealed record TrainManifest
{
    /// <summary>The image label that carries the manifest JSON.</summary>
    public const string LabelKey = "org.healthtrain.manifest";

    /// <summary>Current version of the manifest format.</summary>
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    public string Name { get; init; } = "";
    public string Version { get; init; } = "";
    public string? Description { get; init; }
    public IReadOnlyList<string> Authors { get; init; } = [];
    /// <summary><c>statistics</c> or <c>training</c>.</summary>
    public string Kind { get; init; } = "";
    public IReadOnlyList<TrainInput> Inputs { get; init; } = [];
    public TrainOutputs Outputs { get; init; } = new();
    public IReadOnlyList<TrainParameter> Parameters { get; init; } = [];
    public TrainResources Resources { get; init; } = new();
}

/// <summary>
/// One declared input. Kind <c>view</c> delivers the rows of a SQL-on-FHIR v2 ViewDefinition as
/// <c>/input/views/{Name}.ndjson</c> (or <c>.csv</c>); kind <c>fhir-resources</c> delivers whole resources as
/// <c>/input/fhir/{ResourceType}.ndjson</c> — raw records, which a station's policy may forbid.
/// </summary>
public sealed record TrainInput
{
    public string Kind { get; init; } = "";
    /// <summary>For <c>fhir-resources</c>: the FHIR resource type.</summary>
    public string? ResourceType { get; init; }
    /// <summary>For <c>view</c>: the file name the rows are delivered under.</summary>
    public string? Name { get; init; }
    /// <summary>
    /// For <c>view</c>: the ViewDefinition itself. In a train folder's train.json it may instead be the name of a view in
    /// <c>fhir-mappings/views/</c>, which <c>healthtrain train build</c> replaces with the definition.
    /// </summary>
    public JsonElement? View { get; init; }
    /// <summary>For <c>view</c>: <c>ndjson</c> (default) or <c>csv</c>.</summary>
    public string? Format { get; init; }
}

/// <summary>Everything a train may emit; anything else found in <c>/output</c> is refused.</summary>
public sealed record TrainOutputs
{
    public IReadOnlyList<StatisticDeclaration> Statistics { get; init; } = [];
    public IReadOnlyList<TensorDeclaration> Tensors { get; init; } = [];
}

/// <summary>A declared aggregate statistic.</summary>
public sealed record StatisticDeclaration
{
    public string Name { get; init; } = "";
    /// <summary>One of <see cref="StatisticKinds"/>.</summary>
    public string Kind { get; init; } = "";
    public string? Description { get; init; }
    public string? Unit { get; init; }
    /// <summary>For <c>count</c> (optional) and <c>sum</c>: named strata, reported as one value each.</summary>
    public IReadOnlyList<string>? Categories { get; init; }
    /// <summary>For <c>histogram</c>: ascending bin edges; bin i is [edges[i], edges[i+1]).</summary>
    public IReadOnlyList<double>? Bins { get; init; }
}

/// <summary>A declared model tensor.</summary>
public sealed record TensorDeclaration
{
    public string Name { get; init; } = "";
    public IReadOnlyList<long> Shape { get; init; } = [];
    public string Dtype { get; init; } = "";
}

/// <summary>A run-time parameter the researcher may set when starting a run.</summary>
public sealed record TrainParameter
{
    public string Name { get; init; } = "";
    /// <summary><c>string</c>, <c>integer</c>, <c>number</c>, <c>boolean</c> or <c>date</c>.</summary>
    public string Type { get; init; } = "";
    public JsonElement? Default { get; init; }
    public string? Description { get; init; }
}

/// <summary>What one execution of the train may use at a station.</summary>
public sealed record TrainResources
{
    public double Cpus { get; init; } = 1;
    public long MemoryMb { get; init; } = 512;
    public int Gpus { get; init; }
    public int TimeoutSeconds { get; init; } = 600;
}

/// <summary>The statistic kinds the hub knows how to pool exactly.</summary>
public static class StatisticKinds
{
    public const string Count = "count";
    public const string Sum = "sum";
    public const string Mean = "mean";
    public const string Variance = "variance";
    public const string Histogram = "histogram";

    public static readonly IReadOnlyList<string> All = [Count, Sum, Mean, Variance, Histogram];
}

/// <summary>The input kinds a station can deliver.</summary>
public static class InputKinds
{
    /// <summary>The rows of a SQL-on-FHIR view: only the declared columns leave the store.</summary>
    public const string View = "view";
    /// <summary>Whole FHIR resources of one type: raw records, flagged as such; stations may forbid it.</summary>
    public const string FhirResources = "fhir-resources";
    /// <summary>
    /// Labelled images, delivered as <c>/input/images/{Name}.safetensors</c> with tensors <c>images</c> (uint8 [N, H, W])
    /// and <c>labels</c> (int64 [N]) (see <see cref="Models.ImageCollection"/>).
    /// </summary>
    public const string ImageCollection = "image-collection";
    public static readonly IReadOnlyList<string> All = [View, FhirResources, ImageCollection];

    /// <summary>Formats a view input can be delivered in.</summary>
    public static readonly IReadOnlyList<string> ViewFormats = ["ndjson", "csv"];
}

/// <summary>Train kinds.</summary>
public static class TrainKinds
{
    public const string Statistics = "statistics";
    public const string Training = "training";
    public static readonly IReadOnlyList<string> All = [Statistics, Training];
}

/// <summary>JSON settings shared by every part that reads or writes protocol documents.</summary>
public static class ProtocolJson
{
    /// <summary>Strict: unknown members are errors, so a typo in a manifest is caught, not ignored.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // One reading only: no numbers from strings, exact member names, no duplicate members that two parsers could resolve differently.
        NumberHandling = JsonNumberHandling.Strict,
        PropertyNameCaseInsensitive = false,
        AllowDuplicateProperties = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    public static readonly JsonSerializerOptions Indented = new(Options) { WriteIndented = true };

    /// <summary>For hub API messages: tolerant of members added by newer hubs.</summary>
    public static readonly JsonSerializerOptions Api = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
