using HealthTrain.Station.Ingestion;

namespace HealthTrain.Station.Mapping;

/// <summary>An <see cref="IFhirSource"/> that runs a declarative <see cref="MappingSet"/> over an export of delimited files (a folder or a .zip).</summary>
public abstract class MappedCsvSource : IFhirSource
{
    /// <summary>Uses the mapping set in <paramref name="mappingDirectory"/>, which must be of <paramref name="format"/>.</summary>
    protected MappedCsvSource(string format, string mappingDirectory)
    {
        Mappings = MappingSet.Load(mappingDirectory);
        if (Mappings.Format != format)
        {
            throw new MappingDefinitionException($"{Path.Combine(mappingDirectory, MappingSet.SetFileName)} is for format '{Mappings.Format}', not '{format}'");
        }
    }

    /// <summary>The loaded mapping set.</summary>
    public MappingSet Mappings { get; }

    /// <inheritdoc />
    public string Format => Mappings.Format;

    /// <inheritdoc />
    public IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken) => Mappings.Read(path, null, cancellationToken);

    /// <summary>As <see cref="Read(string, CancellationToken)"/>, filling <paramref name="report"/> with per-table counts (including rows skipped on purpose).</summary>
    public IEnumerable<SourceRecord> Read(string path, MappingRunReport report, CancellationToken cancellationToken) => Mappings.Read(path, report, cancellationToken);
}

/// <summary>
/// A Synthea CSV export (the folder with <c>patients.csv</c>, <c>encounters.csv</c>, …, or a .zip of it) as FHIR R4,
/// through <c>fhir-mappings/synthea-csv</c>. The 2018 (Synthea 2.x) CSV layout is refused as a whole.
/// </summary>
public sealed class SyntheaCsvSource : MappedCsvSource
{
    /// <summary>The format name.</summary>
    public const string FormatName = "synthea-csv";

    /// <summary>Uses the mapping set found by <see cref="MappingSetLocator"/>.</summary>
    public SyntheaCsvSource()
        : this(MappingSetLocator.Find(FormatName))
    {
    }

    /// <summary>Uses the mapping set in <paramref name="mappingDirectory"/>.</summary>
    public SyntheaCsvSource(string mappingDirectory)
        : base(FormatName, mappingDirectory)
    {
    }
}

/// <summary>
/// OMOP CDM 5.4 tables (a folder of CSV files or a .zip; <c>__MACOSX</c> entries are skipped) as FHIR R4, through
/// <c>fhir-mappings/omop</c>. Concept ids become codes of their source vocabularies via the CONCEPT table.
/// </summary>
public sealed class OmopSource : MappedCsvSource
{
    /// <summary>The format name.</summary>
    public const string FormatName = "omop";

    /// <summary>Uses the mapping set found by <see cref="MappingSetLocator"/>.</summary>
    public OmopSource()
        : this(MappingSetLocator.Find(FormatName))
    {
    }

    /// <summary>Uses the mapping set in <paramref name="mappingDirectory"/>.</summary>
    public OmopSource(string mappingDirectory)
        : base(FormatName, mappingDirectory)
    {
    }
}
