using System.Text.Json;
using HealthTrain.Station.Ingestion;

namespace HealthTrain.Station.Mapping;

/// <summary>Counts of one table's run: rows read, resources produced, rows skipped (by reason) and rows quarantined.</summary>
public sealed class TableRunStatistics
{
    /// <summary>The file mapped.</summary>
    public required string File { get; init; }

    /// <summary>The resource type produced.</summary>
    public required string ResourceType { get; init; }

    /// <summary>Data rows read (the header not counted).</summary>
    public long Rows { get; internal set; }

    /// <summary>Valid resources yielded.</summary>
    public long Resources { get; internal set; }

    /// <summary>Rows yielded as errors.</summary>
    public long Errors { get; internal set; }

    /// <summary>Rows deliberately not mapped, by the mapping's reason.</summary>
    public Dictionary<string, long> Skipped { get; } = [];
}

/// <summary>What a run did, table by table; file-level errors are also yielded as error records.</summary>
public sealed class MappingRunReport
{
    /// <summary>Per table, in run order.</summary>
    public List<TableRunStatistics> Tables { get; } = [];

    /// <summary>Errors about whole files (layout, missing required file, unreadable file).</summary>
    public List<string> FileErrors { get; } = [];
}

/// <summary>
/// A mapping set: the <c>mapping-set.json</c> of one source format and its table mappings, loaded and checked once,
/// then run over exports (a folder or a .zip of delimited files) as a stream of <see cref="SourceRecord"/>s.
/// </summary>
public sealed class MappingSet
{
    /// <summary>The file that describes a mapping set.</summary>
    public const string SetFileName = "mapping-set.json";

    private readonly List<(TableMappingDefinition Definition, bool Required, string Source)> _tables;

    private MappingSet(string directory, MappingSetDefinition definition, List<(TableMappingDefinition, bool, string)> tables)
    {
        Directory = directory;
        Definition = definition;
        _tables = tables;
        Delimiter = definition.Delimiter.Length == 1 && definition.Delimiter[0] is not ('"' or '\r' or '\n')
            ? definition.Delimiter[0]
            : throw new MappingDefinitionException($"{SetFileName}: delimiter must be one character other than a quote or line break");
        if (definition.Vocabulary?.ConceptIdSystem is { } alias && !definition.CodeSystems.ContainsKey(alias))
        {
            throw new MappingDefinitionException($"{SetFileName}: vocabulary.conceptIdSystem '{alias}' is not a codeSystems alias");
        }

        foreach (var (alias2, uri) in definition.CodeSystems)
        {
            if (!Uri.TryCreate(uri, UriKind.Absolute, out _))
            {
                throw new MappingDefinitionException($"{SetFileName}: codeSystems.{alias2} '{uri}' is not an absolute URI");
            }
        }

        // Compile once now so a broken mapping fails at load, not on the first export.
        Compile();
    }

    /// <summary>The folder the mapping set was loaded from.</summary>
    public string Directory { get; }

    /// <summary>The parsed <c>mapping-set.json</c>.</summary>
    public MappingSetDefinition Definition { get; }

    /// <summary>The format name.</summary>
    public string Format => Definition.Format;

    /// <summary>The table mappings, in run order.</summary>
    public IReadOnlyList<TableMappingDefinition> Tables => _tables.Select(t => t.Definition).ToList();

    /// <summary>The field delimiter.</summary>
    public char Delimiter { get; }

    /// <summary>Loads and checks a mapping set; throws <see cref="MappingDefinitionException"/> with the file and the problem.</summary>
    public static MappingSet Load(string directory)
    {
        var setFile = Path.Combine(directory, SetFileName);
        var definition = Parse<MappingSetDefinition>(setFile);
        var tables = new List<(TableMappingDefinition, bool, string)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in definition.Tables)
        {
            var file = Path.Combine(directory, entry.Mapping);
            var table = Parse<TableMappingDefinition>(file);
            if (!names.Add(table.Table))
            {
                throw new MappingDefinitionException($"{entry.Mapping}: table '{table.Table}' is mapped twice in {SetFileName}");
            }

            tables.Add((table, entry.Required, entry.Mapping));
        }

        return new MappingSet(directory, definition, tables);
    }

    private static T Parse<T>(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            return JsonSerializer.Deserialize<T>(stream, MappingJson.Options)
                ?? throw new MappingDefinitionException($"{Path.GetFileName(file)}: is null");
        }
        catch (JsonException ex)
        {
            throw new MappingDefinitionException($"{Path.GetFileName(file)}: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new MappingDefinitionException($"{file}: cannot read: {ex.Message}", ex);
        }
    }

    private (MappingEnvironment Environment, List<(CompiledTable Table, bool Required)> Tables) Compile()
    {
        var environment = new MappingEnvironment(
            Definition.IdNamespace,
            Definition.CodeSystems,
            Definition.Vocabulary?.ConceptIdSystem is { } alias ? Definition.CodeSystems[alias] : null);
        var compiled = _tables.Select(t => (new CompiledTable(t.Definition, environment, Definition.ColumnNamesCaseSensitive, t.Source), t.Required)).ToList();
        return (environment, compiled);
    }

    /// <summary>
    /// Maps an export. Yields one record per data row (a resource, or the reason it is quarantined; rows a mapping
    /// skips on purpose yield nothing and are counted in <paramref name="report"/>) and one error record per file
    /// that cannot be mapped at all. Never throws for bad input; only cancellation throws.
    /// </summary>
    public IEnumerable<SourceRecord> Read(string path, MappingRunReport? report, CancellationToken cancellationToken)
    {
        report ??= new MappingRunReport();
        ExportContainer? container = null;
        string? openError = null;
        try
        {
            container = ExportContainer.Open(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            openError = $"cannot open the {Format} export: {ex.Message}";
        }

        if (container is null)
        {
            report.FileErrors.Add(openError!);
            yield return new SourceRecord(path, null, openError);
            yield break;
        }

        using (container)
        {
            foreach (var record in ReadContainer(container, path, report, cancellationToken))
            {
                yield return record;
            }
        }
    }

    private IEnumerable<SourceRecord> ReadContainer(ExportContainer container, string path, MappingRunReport report, CancellationToken cancellationToken)
    {
        var (environment, tables) = Compile();
        var fileCase = Definition.FileNamesCaseSensitive;

        string? FindFile(string name, out string? error)
        {
            error = null;
            try
            {
                return container.Find(name, fileCase);
            }
            catch (IOException ex)
            {
                error = ex.Message;
                return null;
            }
        }

        SourceRecord FileError(string position, string error)
        {
            report.FileErrors.Add($"{position}: {error}");
            return new SourceRecord(position, null, error);
        }

        // 1. Layouts refused as a whole.
        foreach (var rejection in Definition.RejectLayouts)
        {
            var file = FindFile(rejection.File, out _);
            if (file is null || ReadHeader(container, file) is not { } header)
            {
                continue;
            }

            var names = new HashSet<string>(header.Select(h => h.Trim()), StringComparer.Ordinal);
            if (!rejection.HeaderHas.TrueForAll(names.Contains) || rejection.HeaderLacks.Exists(names.Contains))
            {
                continue;
            }

            var message = $"this export has the {rejection.Name} layout ({rejection.File}: {string.Join(",", header)}); {rejection.Message}; nothing in it is mapped";
            var any = false;
            foreach (var (table, _) in tables)
            {
                if (FindFile(table.Definition.File, out _) is { } present)
                {
                    any = true;
                    yield return FileError(present, message);
                }
            }

            if (!any)
            {
                yield return FileError(path, message);
            }

            yield break;
        }

        // 2. The vocabulary.
        if (Definition.Vocabulary is { } vocabulary)
        {
            var file = FindFile(vocabulary.File, out var findError);
            if (file is null)
            {
                yield return FileError(vocabulary.File, findError ?? $"{vocabulary.File} is missing, so concept ids cannot be turned into codes; codings carry only the concept ids");
            }
            else
            {
                string? loadError;
                try
                {
                    using var stream = container.OpenFile(file);
                    (environment.Vocabulary, loadError) = ConceptVocabulary.Load(stream, file, vocabulary, Delimiter, Definition.ColumnNamesCaseSensitive);
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException)
                {
                    loadError = $"{file}: cannot read: {ex.Message}";
                }

                if (loadError is not null)
                {
                    yield return FileError(file, loadError + "; codings carry only the concept ids");
                }
            }
        }

        // 3. The tables, in order.
        foreach (var (table, required) in tables)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var definition = table.Definition;
            var file = FindFile(definition.File, out var findError);
            if (file is null)
            {
                if (findError is not null || required)
                {
                    yield return FileError(definition.File, findError ?? $"{definition.File} is missing; the {Format} mapping needs it");
                }

                continue;
            }

            var statistics = new TableRunStatistics { File = file, ResourceType = definition.ResourceType };
            report.Tables.Add(statistics);

            var lookups = new LoadedLookup[definition.Lookups.Count];
            string? lookupError = null;
            for (var i = 0; i < lookups.Length && lookupError is null; i++)
            {
                (lookups[i], lookupError) = LoadLookup(container, definition.Lookups[i], table.LookupKeyColumns[i]);
            }

            if (lookupError is not null)
            {
                yield return FileError(file, lookupError);
                continue;
            }

            foreach (var record in ReadTable(container, file, table, lookups, statistics, report, cancellationToken))
            {
                yield return record;
            }
        }
    }

    private IEnumerable<SourceRecord> ReadTable(ExportContainer container, string file, CompiledTable table, LoadedLookup[] lookups, TableRunStatistics statistics, MappingRunReport report, CancellationToken cancellationToken)
    {
        SourceRecord FileError(string error)
        {
            report.FileErrors.Add($"{file}: {error}");
            return new SourceRecord(file, null, error);
        }

        Stream stream;
        string? openError = null;
        try
        {
            stream = container.OpenFile(file);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            stream = Stream.Null;
            openError = $"cannot read {file}: {ex.Message}";
        }

        if (openError is not null)
        {
            yield return FileError(openError);
            yield break;
        }

        using var csv = new CsvReader(stream, Delimiter);
        if (!TryRead(csv, out var header, out var readError) || header is null || header.Error is not null)
        {
            yield return FileError(readError ?? (header?.Error is { } e ? $"{file}: malformed header: {e}" : $"{file} is empty: it has no header"));
            yield break;
        }

        var (bound, bindError) = table.Bind(header.Fields, file, lookups);
        if (bound is null)
        {
            yield return FileError(bindError!);
            yield break;
        }

        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!TryRead(csv, out var record, out readError))
            {
                if (readError is not null)
                {
                    yield return FileError(readError);
                }

                yield break;
            }

            statistics.Rows++;
            var position = BoundTable.Position(file, record!.Line);
            var outcome = bound.Map(record);
            if (outcome.SkipReason is not null)
            {
                statistics.Skipped[outcome.SkipReason] = statistics.Skipped.GetValueOrDefault(outcome.SkipReason) + 1;
                continue;
            }

            var error = outcome.Error ?? FhirResourceValidator.Validate(outcome.Json!, table.Definition.ResourceType);
            if (error is not null)
            {
                statistics.Errors++;
                yield return new SourceRecord(position, null, error);
            }
            else
            {
                statistics.Resources++;
                yield return new SourceRecord(position, outcome.Json, null);
            }
        }

        bool TryRead(CsvReader reader, out CsvRecord? next, out string? error)
        {
            error = null;
            next = null;
            try
            {
                if (reader.TryRead(out var read))
                {
                    next = read;
                    return true;
                }

                return false;
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException)
            {
                error = $"cannot read {file} past this point: {ex.Message}";
                return false;
            }
        }
    }

    private string[]? ReadHeader(ExportContainer container, string file)
    {
        try
        {
            using var csv = new CsvReader(container.OpenFile(file), Delimiter);
            return csv.TryRead(out var header) && header.Error is null ? header.Fields.ToArray() : null;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            return null;
        }
    }

    private (LoadedLookup Lookup, string? Error) LoadLookup(ExportContainer container, LookupDefinition definition, ColumnRef on)
    {
        var comparer = Definition.ColumnNamesCaseSensitive ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        var rows = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var columns = new Dictionary<string, int>(comparer);
        string? file;
        try
        {
            file = container.Find(definition.File, Definition.FileNamesCaseSensitive);
        }
        catch (IOException ex)
        {
            return (new LoadedLookup(on, rows, columns), $"lookup {definition.Name}: {ex.Message}");
        }

        // An absent lookup file is an empty lookup (an export without deaths has no DEATH table).
        if (file is null)
        {
            return (new LoadedLookup(on, rows, columns), null);
        }

        try
        {
            using var csv = new CsvReader(container.OpenFile(file), Delimiter);
            if (!csv.TryRead(out var header) || header.Error is not null)
            {
                return (new LoadedLookup(on, rows, columns), $"lookup {definition.Name}: {file} has no readable header");
            }

            for (var i = 0; i < header.Fields.Count; i++)
            {
                columns.TryAdd(header.Fields[i].Trim(), i);
            }

            var missing = definition.Columns.Append(definition.Key).Where(c => !columns.ContainsKey(c)).Distinct().ToList();
            if (missing.Count > 0)
            {
                return (new LoadedLookup(on, rows, columns), $"lookup {definition.Name}: {file} lacks column(s) {string.Join(", ", missing)}");
            }

            var key = columns[definition.Key];
            while (csv.TryRead(out var row))
            {
                if (row.Error is not null || row.Fields.Count != header.Fields.Count)
                {
                    return (new LoadedLookup(on, rows, columns), $"lookup {definition.Name}: {file}:{row.Line}: {row.Error ?? "wrong number of fields"}");
                }

                rows.TryAdd(row.Fields[key].Trim(), row.Fields.ToArray());
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            return (new LoadedLookup(on, rows, columns), $"lookup {definition.Name}: cannot read {file}: {ex.Message}");
        }

        return (new LoadedLookup(on, rows, columns), null);
    }
}
