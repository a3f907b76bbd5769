using System.Buffers;
using System.Globalization;

namespace HealthTrain.Station.Mapping;

/// <summary>The outcome of mapping one row: a resource, a skip (with its reason) or an error.</summary>
internal readonly record struct RowOutcome(string? Json, string? SkipReason, string? Error);

/// <summary>A table mapping compiled against its mapping set: column references resolved, rules turned into code.</summary>
internal sealed class CompiledTable
{
    private readonly ColumnRegistry _columns;
    private readonly List<CompiledRule> _rules = [];
    private readonly List<(RowCondition When, string Reason)> _skips = [];
    private readonly ColumnRef? _idColumn;
    private readonly ColumnRef[][]? _idDerive;
    private readonly bool _caseSensitive;

    public TableMappingDefinition Definition { get; }

    public string Source { get; }

    public MappingEnvironment Environment { get; }

    public IReadOnlyList<ColumnRef> LookupKeyColumns { get; }

    public CompiledTable(TableMappingDefinition definition, MappingEnvironment environment, bool caseSensitiveColumns, string source)
    {
        Definition = definition;
        Environment = environment;
        Source = source;
        _caseSensitive = caseSensitiveColumns;
        if (!Hl7.Fhir.Model.ModelInfo.IsKnownResource(definition.ResourceType))
        {
            throw new MappingDefinitionException($"{source}: '{definition.ResourceType}' is not a FHIR R4 resource type");
        }

        _columns = new ColumnRegistry(definition, caseSensitiveColumns, source);
        LookupKeyColumns = definition.Lookups.Select(l => _columns.Get(l.On)).ToList();

        var id = definition.Id;
        if ((id.Column is null) == (id.Derive is null))
        {
            throw new MappingDefinitionException($"{source}: id needs exactly one of column or derive");
        }

        if (id.Column is not null)
        {
            _idColumn = _columns.Get(id.Column);
        }
        else
        {
            if (id.Derive!.Count == 0)
            {
                throw new MappingDefinitionException($"{source}: id.derive needs at least one key column");
            }

            _idDerive = id.Derive.Select(spec => spec.Names.Select(_columns.Get).ToArray()).ToArray();
        }

        for (var i = 0; i < definition.Skip.Count; i++)
        {
            _skips.Add((CompileCondition(definition.Skip[i].When, $"{source}: skip[{i}]"), definition.Skip[i].Reason));
        }

        for (var i = 0; i < definition.Rules.Count; i++)
        {
            CompileRule(definition.Rules[i], [], null, $"{source}: rules[{i}]");
        }
    }

    private void CompileRule(RuleDefinition rule, PathSegment[] prefix, RowCondition? outer, string where)
    {
        PathSegment[] path;
        try
        {
            path = ElementPath.Concat(prefix, ElementPath.Parse(rule.Path));
        }
        catch (FormatException ex)
        {
            throw new MappingDefinitionException($"{where}: {ex.Message}");
        }

        where = $"{where} ({rule.Path})";
        var when = And(outer, rule.When is null ? null : CompileCondition(rule.When, where + ".when"));
        var leaf = rule.Column is not null || rule.Value is not null || rule.Template is not null;
        var forms = (leaf ? 1 : 0) + (rule.Coding is null ? 0 : 1) + (rule.CodeableConcept is null ? 0 : 1) + (rule.Quantity is null ? 0 : 1)
            + (rule.Reference is null ? 0 : 1) + (rule.Identifier is null ? 0 : 1) + (rule.Concept is null ? 0 : 1) + (rule.Rules is null ? 0 : 1);
        if (forms != 1)
        {
            throw new MappingDefinitionException($"{where}: a rule needs exactly one of column/value/template, coding, codeableConcept, quantity, reference, identifier, concept or rules");
        }

        if (!leaf && (rule.Map is not null || rule.Default is not null || rule.Unmapped is not null || rule.Type is not null || rule.TimeZone is not null || rule.DateOnlyAtMidnight))
        {
            throw new MappingDefinitionException($"{where}: map, default, unmapped, type, timeZone and dateOnlyAtMidnight belong to leaf rules (column, value or template)");
        }

        if (leaf)
        {
            var value = CompiledValue.Compile(rule.Column, rule.Value, rule.Template, rule.Default, rule.Map, rule.Unmapped, _columns, where);
            if (rule.TimeZone is not null)
            {
                ValidateZone(rule.TimeZone, where);
            }

            _rules.Add(new LeafRule(path, when, value, LeafRule.Converter(rule.Type, rule.TimeZone, rule.DateOnlyAtMidnight, where)));
        }
        else if (rule.Coding is { } coding)
        {
            _rules.Add(new CodingRule(path, when, System(coding.System, where + ".coding.system"), Value(coding.Code, where + ".coding.code")!, Value(coding.Display, where + ".coding.display")));
        }
        else if (rule.CodeableConcept is { } concept)
        {
            _rules.Add(CompileCodeableConcept(path, when, concept, where + ".codeableConcept"));
        }
        else if (rule.Quantity is { } quantity)
        {
            _rules.Add(new QuantityRule(
                path,
                when,
                Value(quantity.Value, where + ".quantity.value")!,
                Value(quantity.Unit, where + ".quantity.unit"),
                System(quantity.System, where + ".quantity.system"),
                Value(quantity.Code, where + ".quantity.code"),
                quantity.UnitConcept is null ? null : _columns.Get(quantity.UnitConcept)));
        }
        else if (rule.Reference is { } reference)
        {
            if (!Hl7.Fhir.Model.ModelInfo.IsKnownResource(reference.Type))
            {
                throw new MappingDefinitionException($"{where}: reference type '{reference.Type}' is not a FHIR R4 resource type");
            }

            if ((reference.Id is null) == (reference.Derive is null))
            {
                throw new MappingDefinitionException($"{where}: a reference needs exactly one of id or derive");
            }

            _rules.Add(new ReferenceRule(
                path,
                when,
                reference.Type,
                Value(reference.Id, where + ".reference.id"),
                reference.Derive?.Table,
                reference.Derive?.Columns.Select(spec => spec.Names.Select(_columns.Get).ToArray()).ToArray(),
                Value(reference.Display, where + ".reference.display")));
        }
        else if (rule.Identifier is { } identifier)
        {
            _rules.Add(new IdentifierRule(
                path,
                when,
                Value(identifier.System, where + ".identifier.system"),
                Value(identifier.Value, where + ".identifier.value")!,
                Value(identifier.Use, where + ".identifier.use"),
                identifier.Type is null ? null : CompileCodeableConcept(path, null, identifier.Type, where + ".identifier.type")));
        }
        else if (rule.Concept is { } omopConcept)
        {
            if (omopConcept.Columns.Count == 0)
            {
                throw new MappingDefinitionException($"{where}: concept needs at least one concept id column");
            }

            _rules.Add(new ConceptRule(path, when, omopConcept.Columns.Select(_columns.Get).ToArray(), Value(omopConcept.SourceValue, where + ".concept.sourceValue")));
        }
        else
        {
            for (var i = 0; i < rule.Rules!.Count; i++)
            {
                CompileRule(rule.Rules[i], path, when, $"{where}.rules[{i}]");
            }
        }
    }

    private CodeableConceptRule CompileCodeableConcept(PathSegment[] path, RowCondition? when, CodeableConceptDefinition concept, string where)
    {
        if (concept.Code is null && concept.Text is null)
        {
            throw new MappingDefinitionException($"{where}: needs code or text");
        }

        return new CodeableConceptRule(path, when, System(concept.System, where + ".system"), Value(concept.Code, where + ".code"), Value(concept.Display, where + ".display"), Value(concept.Text, where + ".text"));
    }

    private CompiledValue? Value(ValueSpec? spec, string where) =>
        spec is null ? null : CompiledValue.Compile(spec.Column, spec.Value, spec.Template, spec.Default, spec.Map, spec.Unmapped, _columns, where);

    private SystemValue? System(ValueSpec? spec, string where) =>
        Value(spec, where) is { } value ? new SystemValue(value, Environment, where) : null;

    private static RowCondition? And(RowCondition? first, RowCondition? second) =>
        first is null ? second : second is null ? first : row => first(row) && second(row);

    private static void ValidateZone(string zone, string where)
    {
        try
        {
            ValueTransforms.ToDateTime("2000-01-01T00:00:00", zone);
        }
        catch (FormatException)
        {
            throw new MappingDefinitionException($"{where}: timeZone '{zone}' is not Z or ±hh:mm");
        }
    }

    private RowCondition CompileCondition(ConditionDefinition condition, string where)
    {
        var tests = (condition.EqualTo is null ? 0 : 1) + (condition.In is null ? 0 : 1) + (condition.Empty is null ? 0 : 1) + (condition.Number is null ? 0 : 1);
        var combinators = (condition.All is null ? 0 : 1) + (condition.Any is null ? 0 : 1) + (condition.Not is null ? 0 : 1);
        if (condition.Column is not null)
        {
            if (tests != 1 || combinators != 0)
            {
                throw new MappingDefinitionException($"{where}: a column condition needs exactly one of equals, in, empty or number");
            }

            var column = _columns.Get(condition.Column);
            if (condition.EqualTo is { } expected)
            {
                var trimmed = expected.Trim();
                return row => row.Get(column) == trimmed;
            }

            if (condition.In is { } values)
            {
                var set = new HashSet<string>(values.Select(v => v.Trim()), StringComparer.Ordinal);
                return row => set.Contains(row.Get(column));
            }

            if (condition.Empty is { } empty)
            {
                return row => (row.Get(column).Length == 0) == empty;
            }

            var number = condition.Number!.Value;
            return row => ValueTransforms.IsDecimal(row.Get(column)) == number;
        }

        if (tests != 0 || combinators != 1)
        {
            throw new MappingDefinitionException($"{where}: a condition is a column test, or exactly one of all, any or not");
        }

        if (condition.Not is { } not)
        {
            var inner = CompileCondition(not, where + ".not");
            return row => !inner(row);
        }

        var list = (condition.All ?? condition.Any)!;
        if (list.Count == 0)
        {
            throw new MappingDefinitionException($"{where}: all/any cannot be empty");
        }

        var compiled = list.Select((c, i) => CompileCondition(c, $"{where}[{i}]")).ToArray();
        return condition.All is not null
            ? row => Array.TrueForAll(compiled, c => c(row))
            : row => Array.Exists(compiled, c => c(row));
    }

    /// <summary>Checks a header against the declared columns and binds the column references to positions.</summary>
    public (BoundTable? Table, string? Error) Bind(IReadOnlyList<string> header, string fileName, LoadedLookup[] lookups)
    {
        var comparer = _caseSensitive ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        var positions = new Dictionary<string, int>(comparer);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim();
            if (name.Length == 0)
            {
                continue;
            }

            if (!positions.TryAdd(name, i))
            {
                return (null, $"{fileName}: column '{name}' appears twice in the header");
            }
        }

        var missing = Definition.Columns.Required
            .Where(spec => !spec.Names.Any(positions.ContainsKey))
            .Select(spec => spec.Names.Count == 1 ? spec.Names[0] : "one of " + string.Join("/", spec.Names))
            .ToList();
        if (missing.Count > 0)
        {
            return (null, $"{fileName}: not the layout the {Definition.Table} mapping expects: missing required column(s) {string.Join(", ", missing)} (the header has {string.Join(",", header)})");
        }

        var indexes = _columns.TableColumns.Select(c => positions.GetValueOrDefault(c.Name, -1)).ToArray();
        return (new BoundTable(this, _rules, _skips, _idColumn, _idDerive, new RowContext(Environment, indexes, lookups), header.Count, fileName), null);
    }
}

/// <summary>A compiled table bound to one file's header: maps its rows.</summary>
internal sealed class BoundTable(
    CompiledTable table,
    List<CompiledRule> rules,
    List<(RowCondition When, string Reason)> skips,
    ColumnRef? idColumn,
    ColumnRef[][]? idDerive,
    RowContext context,
    int fieldCount,
    string fileName)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);

    public RowOutcome Map(CsvRecord record)
    {
        if (record.Error is not null)
        {
            return new RowOutcome(null, null, $"malformed CSV: {record.Error}");
        }

        if (record.Fields.Count != fieldCount)
        {
            return new RowOutcome(null, null, $"the row has {record.Fields.Count} fields, the header of {fileName} has {fieldCount}");
        }

        context.Fields = record.Fields;
        try
        {
            foreach (var (when, reason) in skips)
            {
                if (when(context))
                {
                    return new RowOutcome(null, reason, null);
                }
            }

            string id;
            if (idColumn is not null)
            {
                var value = context.Get(idColumn);
                id = value.Length == 0
                    ? throw new RowMappingException($"id: column {idColumn.Name} is empty")
                    : ValueTransforms.ToId(value);
            }
            else
            {
                var values = idDerive!.Select(alternatives => ReferenceRule.FirstNonEmpty(context, alternatives)).ToList();
                id = DeterministicId.ForRow(table.Environment.IdNamespace, table.Definition.Table, values);
            }

            var tree = new ResourceTree();
            foreach (var rule in rules)
            {
                rule.Apply(context, tree);
            }

            return new RowOutcome(tree.WriteJson(table.Definition.ResourceType, id, _buffer), null, null);
        }
        catch (RowMappingException ex)
        {
            return new RowOutcome(null, null, $"{table.Definition.ResourceType}.{ex.Message}");
        }
        catch (FormatException ex)
        {
            return new RowOutcome(null, null, $"{table.Definition.ResourceType}.id: {ex.Message}");
        }
        catch (PathConflictException ex)
        {
            return new RowOutcome(null, null, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug in a rule must not stop the export: the row is quarantined with what went wrong.
            return new RowOutcome(null, null, $"mapping failed ({ex.GetType().Name}): {ex.Message}");
        }
    }

    public static string Position(string fileName, long line) => fileName + ":" + line.ToString(CultureInfo.InvariantCulture);
}
