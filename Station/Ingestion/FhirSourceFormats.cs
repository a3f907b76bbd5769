namespace HealthTrain.Station.Ingestion;

/// <summary>The <c>--format</c> names the <c>ingest</c> verb accepts, each with a factory for a fresh source.</summary>
public static class FhirSourceFormats
{
    /// <summary>Every format the verb's usage names, registered or not yet.</summary>
    public static readonly IReadOnlyList<string> Planned = ["synthea-csv", "omop", FhirBundleSource.FormatName, FhirNdjsonSource.FormatName];

    private static readonly Lock Gate = new();

    private static readonly Dictionary<string, Func<IFhirSource>> Factories = new(StringComparer.Ordinal)
    {
        [FhirBundleSource.FormatName] = () => new FhirBundleSource(),
        [FhirNdjsonSource.FormatName] = () => new FhirNdjsonSource(),
        // Source exports mapped to FHIR by the declarative mappings in fhir-mappings/.
        [HealthTrain.Station.Mapping.SyntheaCsvSource.FormatName] = () => new HealthTrain.Station.Mapping.SyntheaCsvSource(),
        [HealthTrain.Station.Mapping.OmopSource.FormatName] = () => new HealthTrain.Station.Mapping.OmopSource(),
    };

    /// <summary>The registered format names, sorted.</summary>
    public static IReadOnlyList<string> Names
    {
        get
        {
            lock (Gate)
            {
                return Factories.Keys.Order(StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>Adds or replaces the factory for <paramref name="format"/>.</summary>
    public static void Register(string format, Func<IFhirSource> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(format);
        ArgumentNullException.ThrowIfNull(factory);
        lock (Gate)
        {
            Factories[format] = factory;
        }
    }

    /// <summary>A new source for <paramref name="format"/>, or false when no such format is registered.</summary>
    public static bool TryCreate(string format, out IFhirSource source)
    {
        Func<IFhirSource>? factory;
        lock (Gate)
        {
            Factories.TryGetValue(format, out factory);
        }

        source = factory?.Invoke()!;
        return factory is not null;
    }
}
