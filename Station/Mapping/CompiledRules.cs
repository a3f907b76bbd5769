using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HealthTrain.Station.Mapping;

/// <summary>A mapping file is not valid: its JSON, a rule, a column or a code system alias.</summary>
public sealed class MappingDefinitionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A row cannot become a resource (an unmapped value, a malformed date or number); the message is the quarantine reason.</summary>
internal sealed class RowMappingException(string message) : Exception(message);

/// <summary>A column a rule reads: a column of the mapped table, or <c>lookup.column</c> of a joined lookup table.</summary>
internal sealed class ColumnRef(string name, int slot, int lookup, string lookupColumn)
{
    public string Name { get; } = name;

    /// <summary>Index into the bound table's column indexes (for table columns).</summary>
    public int Slot { get; } = slot;

    /// <summary>Index of the lookup, or −1 for a table column.</summary>
    public int Lookup { get; } = lookup;

    /// <summary>The column's name in the lookup table.</summary>
    public string LookupColumn { get; } = lookupColumn;
}

/// <summary>What rules need besides the row: code systems, the vocabulary and the id namespace.</summary>
internal sealed class MappingEnvironment(Guid idNamespace, IReadOnlyDictionary<string, string> codeSystems, string? conceptIdSystem)
{
    public Guid IdNamespace { get; } = idNamespace;

    public IReadOnlyDictionary<string, string> CodeSystems { get; } = codeSystems;

    /// <summary>The URI of the OMOP concept-id code system, when concept ids also become codings.</summary>
    public string? ConceptIdSystem { get; } = conceptIdSystem;

    public ConceptVocabulary? Vocabulary { get; set; }

    /// <summary>An alias from codeSystems, or an absolute URI as it is; null for anything else.</summary>
    public string? ResolveSystem(string value)
    {
        if (CodeSystems.TryGetValue(value, out var uri))
        {
            return uri;
        }

        return value.StartsWith("http://", StringComparison.Ordinal) || value.StartsWith("https://", StringComparison.Ordinal) || value.StartsWith("urn:", StringComparison.Ordinal)
            ? value
            : null;
    }
}

/// <summary>One row being mapped: its fields, the bound column positions and the joined lookup rows.</summary>
internal sealed class RowContext(MappingEnvironment environment, int[] indexes, LoadedLookup[] lookups)
{
    public MappingEnvironment Environment { get; } = environment;

    public IReadOnlyList<string> Fields { get; set; } = [];

    /// <summary>The trimmed value of a column; empty when the column is absent or the lookup has no row.</summary>
    public string Get(ColumnRef column)
    {
        if (column.Lookup < 0)
        {
            var index = indexes[column.Slot];
            return index < 0 || index >= Fields.Count ? "" : Fields[index].Trim();
        }

        var lookup = lookups[column.Lookup];
        var row = lookup.Find(Get(lookup.On));
        if (row is null)
        {
            return "";
        }

        var at = lookup.IndexOf(column.LookupColumn);
        return at < 0 || at >= row.Length ? "" : row[at].Trim();
    }
}

/// <summary>A lookup table loaded into memory, keyed by its key column (the first row per key wins).</summary>
internal sealed class LoadedLookup(ColumnRef on, Dictionary<string, string[]> rows, Dictionary<string, int> columns)
{
    public ColumnRef On { get; } = on;

    public string[]? Find(string key) => key.Length == 0 ? null : rows.GetValueOrDefault(key);

    public int IndexOf(string column) => columns.GetValueOrDefault(column, -1);
}

/// <summary>The columns a table mapping declares, and the references rules make to them.</summary>
internal sealed class ColumnRegistry
{
    private readonly Dictionary<string, ColumnRef> _refs;
    private readonly HashSet<string> _declared;
    private readonly Dictionary<string, (int Index, HashSet<string> Columns)> _lookups;
    private readonly List<ColumnRef> _tableColumns = [];
    private readonly string _source;

    public ColumnRegistry(TableMappingDefinition table, bool caseSensitive, string source)
    {
        var comparer = caseSensitive ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        _refs = new Dictionary<string, ColumnRef>(comparer);
        _declared = new HashSet<string>(comparer);
        _lookups = new Dictionary<string, (int, HashSet<string>)>(StringComparer.Ordinal);
        _source = source;
        foreach (var spec in table.Columns.Required)
        {
            foreach (var name in spec.Names)
            {
                _declared.Add(name);
            }
        }

        foreach (var name in table.Columns.Optional)
        {
            _declared.Add(name);
        }

        for (var i = 0; i < table.Lookups.Count; i++)
        {
            var lookup = table.Lookups[i];
            if (!_lookups.TryAdd(lookup.Name, (i, new HashSet<string>(lookup.Columns, comparer))))
            {
                throw new MappingDefinitionException($"{source}: lookup '{lookup.Name}' is declared twice");
            }
        }
    }

    public IReadOnlyList<ColumnRef> TableColumns => _tableColumns;

    public ColumnRef Get(string name)
    {
        if (_refs.TryGetValue(name, out var existing))
        {
            return existing;
        }

        ColumnRef created;
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0 && _lookups.TryGetValue(name[..dot], out var lookup))
        {
            var column = name[(dot + 1)..];
            if (!lookup.Columns.Contains(column))
            {
                throw new MappingDefinitionException($"{_source}: column '{column}' of lookup '{name[..dot]}' is not among the lookup's columns");
            }

            created = new ColumnRef(name, -1, lookup.Index, column);
        }
        else
        {
            if (!_declared.Contains(name))
            {
                throw new MappingDefinitionException($"{_source}: column '{name}' is used by a rule but not declared in columns.required or columns.optional");
            }

            created = new ColumnRef(name, _tableColumns.Count, -1, "");
            _tableColumns.Add(created);
        }

        _refs[name] = created;
        return created;
    }
}

/// <summary>A value source: the first non-empty column, a constant or a template, then an optional value map.</summary>
internal sealed partial class CompiledValue
{
    [GeneratedRegex(@"\{(?<name>[^{}]+)\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();

    private readonly ColumnRef[]? _columns;
    private readonly string? _constant;
    private readonly List<(string Text, ColumnRef? Column)>? _template;
    private readonly Dictionary<string, string?>? _map;
    private readonly string _unmapped;
    private readonly string? _default;

    public string Description { get; }

    private CompiledValue(ColumnRef[]? columns, string? constant, List<(string, ColumnRef?)>? template, string? defaultValue, Dictionary<string, string?>? map, string unmapped, string description)
    {
        _columns = columns;
        _constant = constant;
        _template = template;
        _default = string.IsNullOrWhiteSpace(defaultValue) ? null : defaultValue;
        _map = map;
        _unmapped = unmapped;
        Description = description;
    }

    /// <summary>The constant, when this value is one without a map (so it can be checked at load).</summary>
    public string? Constant => _map is null ? _constant : null;

    public static CompiledValue Compile(ColumnSpec? column, JsonElement? value, string? template, string? defaultValue, Dictionary<string, string?>? map, string? unmapped, ColumnRegistry columns, string where)
    {
        var forms = (column is null ? 0 : 1) + (value is null ? 0 : 1) + (template is null ? 0 : 1);
        if (forms != 1)
        {
            throw new MappingDefinitionException($"{where}: a value needs exactly one of column, value or template");
        }

        var policy = unmapped ?? "error";
        if (policy is not ("error" or "empty" or "keep"))
        {
            throw new MappingDefinitionException($"{where}: unmapped must be error, empty or keep, not '{unmapped}'");
        }

        if (unmapped is not null && map is null)
        {
            throw new MappingDefinitionException($"{where}: unmapped needs a map");
        }

        if (defaultValue is not null && value is not null)
        {
            throw new MappingDefinitionException($"{where}: a constant cannot have a default");
        }

        if (column is not null)
        {
            return new CompiledValue(column.Names.Select(columns.Get).ToArray(), null, null, defaultValue, map, policy, "column " + column);
        }

        if (value is { } constant)
        {
            var text = constant.ValueKind switch
            {
                JsonValueKind.String => constant.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => constant.GetRawText(),
                _ => throw new MappingDefinitionException($"{where}: a constant value is a string, number or boolean"),
            };
            return new CompiledValue(null, text, null, null, map, policy, "constant");
        }

        var parts = new List<(string, ColumnRef?)>();
        var last = 0;
        foreach (Match match in Placeholder().Matches(template!))
        {
            if (match.Index > last)
            {
                parts.Add((template![last..match.Index], null));
            }

            parts.Add(("", columns.Get(match.Groups["name"].Value)));
            last = match.Index + match.Length;
        }

        if (last < template!.Length)
        {
            parts.Add((template[last..], null));
        }

        return new CompiledValue(null, null, parts, defaultValue, map, policy, "template");
    }

    /// <summary>The value, or null when there is none (empty source, or mapped to nothing).</summary>
    public string? Evaluate(RowContext row)
    {
        string? raw = null;
        if (_columns is not null)
        {
            foreach (var column in _columns)
            {
                var value = row.Get(column);
                if (value.Length > 0)
                {
                    raw = value;
                    break;
                }
            }
        }
        else if (_template is not null)
        {
            var text = new StringBuilder();
            var any = false;
            foreach (var (literal, column) in _template)
            {
                if (column is null)
                {
                    text.Append(literal);
                }
                else
                {
                    var value = row.Get(column);
                    any |= value.Length > 0;
                    text.Append(value);
                }
            }

            // A template whose placeholders are all empty has no value (not just its literal text).
            raw = any ? text.ToString().Trim() : null;
        }
        else
        {
            raw = _constant;
        }

        if (string.IsNullOrWhiteSpace(raw))
        {
            raw = _default;
            if (raw is null)
            {
                return null;
            }
        }

        if (_map is null)
        {
            return raw;
        }

        if (_map.TryGetValue(raw, out var mapped))
        {
            return string.IsNullOrEmpty(mapped) ? null : mapped;
        }

        return _unmapped switch
        {
            "empty" => null,
            "keep" => raw,
            _ => throw new RowMappingException($"{Description}: value '{raw}' has no mapping"),
        };
    }
}

/// <summary>A code system value: aliases resolve through codeSystems; constants are checked at load.</summary>
internal sealed class SystemValue
{
    private readonly CompiledValue? _value;
    private readonly string? _resolved;

    public SystemValue(CompiledValue value, MappingEnvironment environment, string where)
    {
        if (value.Constant is { } constant)
        {
            _resolved = environment.ResolveSystem(constant)
                ?? throw new MappingDefinitionException($"{where}: '{constant}' is neither a codeSystems alias nor an absolute URI");
        }
        else
        {
            _value = value;
        }
    }

    public string? Evaluate(RowContext row)
    {
        if (_resolved is not null)
        {
            return _resolved;
        }

        var value = _value!.Evaluate(row);
        if (value is null)
        {
            return null;
        }

        return row.Environment.ResolveSystem(value)
            ?? throw new RowMappingException($"{_value.Description}: '{value}' is not a known code system (add it to codeSystems)");
    }
}

/// <summary>A compiled condition.</summary>
internal delegate bool RowCondition(RowContext row);

/// <summary>A compiled element rule.</summary>
internal abstract class CompiledRule(PathSegment[] path, RowCondition? when)
{
    public PathSegment[] Path { get; } = path;

    public string PathText => ElementPath.ToString(Path);

    public void Apply(RowContext row, ResourceTree tree)
    {
        if (when is not null && !when(row))
        {
            return;
        }

        try
        {
            Write(row, tree);
        }
        catch (FormatException ex)
        {
            throw new RowMappingException($"{PathText}: {ex.Message}");
        }
        catch (RowMappingException ex)
        {
            throw new RowMappingException($"{PathText}: {ex.Message}");
        }
    }

    protected abstract void Write(RowContext row, ResourceTree tree);

    protected static void SetString(ResourceTree tree, PathSegment[] path, string? value)
    {
        if (value is not null)
        {
            tree.Set(path, new LeafValue(LeafKind.String, value));
        }
    }

    protected static void SetCode(ResourceTree tree, PathSegment[] path, string? value)
    {
        if (value is not null)
        {
            tree.Set(path, new LeafValue(LeafKind.String, ValueTransforms.ToCode(value)));
        }
    }
}

/// <summary>A primitive element from a column, constant or template, converted to its FHIR type.</summary>
internal sealed class LeafRule(PathSegment[] path, RowCondition? when, CompiledValue value, Func<string, LeafValue> convert) : CompiledRule(path, when)
{
    public static Func<string, LeafValue> Converter(string? type, string? timeZone, bool dateOnlyAtMidnight, string where)
    {
        static LeafValue S(string text) => new(LeafKind.String, text);
        static LeafValue N(string text) => new(LeafKind.Number, text);
        return (type ?? "string") switch
        {
            "string" or "markdown" => S,
            "uri" or "url" or "canonical" => text => S(text.Trim()),
            "code" => text => S(ValueTransforms.ToCode(text)),
            "id" => text => S(ValueTransforms.ToId(text)),
            "date" => text => S(ValueTransforms.ToDate(text)),
            "dateTime" => text => S(ValueTransforms.ToDateTime(text, timeZone, dateOnlyAtMidnight)),
            "instant" => text => S(ValueTransforms.ToInstant(text, timeZone)),
            "decimal" => text => N(ValueTransforms.ToDecimal(text)),
            "integer" => text => N(ValueTransforms.ToInteger(text)),
            "positiveInt" => text => N(ValueTransforms.ToInteger(text, 1, "positiveInt")),
            "unsignedInt" => text => N(ValueTransforms.ToInteger(text, 0, "unsignedInt")),
            "boolean" => text => new LeafValue(LeafKind.Boolean, ValueTransforms.ToBoolean(text)),
            _ => throw new MappingDefinitionException($"{where}: unknown type '{type}'"),
        };
    }

    protected override void Write(RowContext row, ResourceTree tree)
    {
        var text = value.Evaluate(row);
        if (text is not null)
        {
            tree.Set(Path, convert(text));
        }
    }
}

/// <summary>A Coding at the path.</summary>
internal sealed class CodingRule(PathSegment[] path, RowCondition? when, SystemValue? system, CompiledValue code, CompiledValue? display) : CompiledRule(path, when)
{
    protected override void Write(RowContext row, ResourceTree tree) => WriteCoding(row, tree, Path, system, code, display);

    public static bool WriteCoding(RowContext row, ResourceTree tree, PathSegment[] path, SystemValue? system, CompiledValue? code, CompiledValue? display)
    {
        var codeValue = code?.Evaluate(row);
        if (codeValue is null)
        {
            return false;
        }

        SetString(tree, ElementPath.Append(path, "system"), system?.Evaluate(row));
        SetCode(tree, ElementPath.Append(path, "code"), codeValue);
        SetString(tree, ElementPath.Append(path, "display"), display?.Evaluate(row));
        return true;
    }
}

/// <summary>A CodeableConcept with one coding and a text.</summary>
internal sealed class CodeableConceptRule(PathSegment[] path, RowCondition? when, SystemValue? system, CompiledValue? code, CompiledValue? display, CompiledValue? text) : CompiledRule(path, when)
{
    protected override void Write(RowContext row, ResourceTree tree) => WriteConcept(row, tree, Path);

    public void WriteConcept(RowContext row, ResourceTree tree, PathSegment[] path)
    {
        CodingRule.WriteCoding(row, tree, ElementPath.Append(path, "coding", 0), system, code, display);
        SetString(tree, ElementPath.Append(path, "text"), text?.Evaluate(row));
    }
}

/// <summary>A Quantity; the value must be a decimal.</summary>
internal sealed class QuantityRule(PathSegment[] path, RowCondition? when, CompiledValue value, CompiledValue? unit, SystemValue? system, CompiledValue? code, ColumnRef? unitConcept) : CompiledRule(path, when)
{
    protected override void Write(RowContext row, ResourceTree tree)
    {
        var number = value.Evaluate(row);
        if (number is null)
        {
            return;
        }

        tree.Set(ElementPath.Append(Path, "value"), new LeafValue(LeafKind.Number, ValueTransforms.ToDecimal(number)));
        var unitText = unit?.Evaluate(row);
        SetString(tree, ElementPath.Append(Path, "unit"), unitText);

        string? systemUri = null;
        string? codeText = null;
        if (unitConcept is not null && row.Environment.Vocabulary?.Find(row.Get(unitConcept)) is { } concept
            && row.Environment.ResolveSystem(concept.VocabularyId) is { } conceptSystem && concept.Code.Length > 0)
        {
            systemUri = conceptSystem;
            codeText = concept.Code;
        }
        else
        {
            codeText = code?.Evaluate(row);
            if (codeText is not null)
            {
                systemUri = system?.Evaluate(row);
            }
        }

        if (codeText is not null)
        {
            SetString(tree, ElementPath.Append(Path, "system"), systemUri);
            SetCode(tree, ElementPath.Append(Path, "code"), codeText);
            if (unitText is null)
            {
                SetString(tree, ElementPath.Append(Path, "unit"), codeText);
            }
        }
    }
}

/// <summary>A Reference <c>Type/id</c> to a resource of the same source.</summary>
internal sealed class ReferenceRule : CompiledRule
{
    private readonly string _type;
    private readonly CompiledValue? _id;
    private readonly string? _deriveTable;
    private readonly ColumnRef[][]? _deriveColumns;
    private readonly CompiledValue? _display;

    public ReferenceRule(PathSegment[] path, RowCondition? when, string type, CompiledValue? id, string? deriveTable, ColumnRef[][]? deriveColumns, CompiledValue? display)
        : base(path, when)
    {
        _type = type;
        _id = id;
        _deriveTable = deriveTable;
        _deriveColumns = deriveColumns;
        _display = display;
    }

    protected override void Write(RowContext row, ResourceTree tree)
    {
        string? id;
        if (_id is not null)
        {
            var source = _id.Evaluate(row);
            id = source is null ? null : ValueTransforms.ToId(source);
        }
        else
        {
            var values = _deriveColumns!.Select(alternatives => FirstNonEmpty(row, alternatives)).ToList();
            id = values.TrueForAll(v => v.Length == 0) ? null : DeterministicId.ForRow(row.Environment.IdNamespace, _deriveTable!, values);
        }

        if (id is null)
        {
            return;
        }

        SetString(tree, ElementPath.Append(Path, "reference"), $"{_type}/{id}");
        SetString(tree, ElementPath.Append(Path, "display"), _display?.Evaluate(row));
    }

    internal static string FirstNonEmpty(RowContext row, ColumnRef[] alternatives)
    {
        foreach (var column in alternatives)
        {
            var value = row.Get(column);
            if (value.Length > 0)
            {
                return value;
            }
        }

        return "";
    }
}

/// <summary>An Identifier.</summary>
internal sealed class IdentifierRule(PathSegment[] path, RowCondition? when, CompiledValue? system, CompiledValue value, CompiledValue? use, CodeableConceptRule? type) : CompiledRule(path, when)
{
    protected override void Write(RowContext row, ResourceTree tree)
    {
        var text = value.Evaluate(row);
        if (text is null)
        {
            return;
        }

        SetCode(tree, ElementPath.Append(Path, "use"), use?.Evaluate(row));
        type?.WriteConcept(row, tree, ElementPath.Append(Path, "type"));
        SetString(tree, ElementPath.Append(Path, "system"), system?.Evaluate(row));
        SetString(tree, ElementPath.Append(Path, "value"), text);
    }
}

/// <summary>A CodeableConcept from OMOP concept ids through the vocabulary.</summary>
internal sealed class ConceptRule(PathSegment[] path, RowCondition? when, ColumnRef[] columns, CompiledValue? sourceValue) : CompiledRule(path, when)
{
    protected override void Write(RowContext row, ResourceTree tree)
    {
        var environment = row.Environment;
        var codings = new List<(string System, string Code, string? Display)>();
        var omop = new List<(string System, string Code, string? Display)>();
        string? text = null;
        foreach (var column in columns)
        {
            var id = row.Get(column);
            if (id.Length == 0 || id == "0")
            {
                continue;
            }

            var concept = environment.Vocabulary?.Find(id);
            if (concept is not null)
            {
                text ??= concept.Name.Length > 0 ? concept.Name : null;
                if (environment.ResolveSystem(concept.VocabularyId) is { } system && concept.Code.Length > 0
                    && !codings.Exists(c => c.System == system && c.Code == concept.Code))
                {
                    codings.Add((system, concept.Code, concept.Name.Length > 0 ? concept.Name : null));
                }
            }

            if (environment.ConceptIdSystem is { } omopSystem && !omop.Exists(c => c.Code == id))
            {
                omop.Add((omopSystem, id, concept?.Name is { Length: > 0 } name ? name : null));
            }
        }

        text ??= sourceValue?.Evaluate(row);
        var index = 0;
        foreach (var (system, code, display) in codings.Concat(omop))
        {
            var coding = ElementPath.Append(Path, "coding", index++);
            SetString(tree, ElementPath.Append(coding, "system"), system);
            SetCode(tree, ElementPath.Append(coding, "code"), code);
            SetString(tree, ElementPath.Append(coding, "display"), display);
        }

        SetString(tree, ElementPath.Append(Path, "text"), text);
    }
}
