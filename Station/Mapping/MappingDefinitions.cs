using System.Text.Json;
using System.Text.Json.Serialization;

namespace HealthTrain.Station.Mapping;

// The JSON shape of the mapping files, exactly as documented in fhir-mappings/README.md.
// Unknown members are errors (see MappingJson), so a typo in a mapping file fails at load, not silently per row.

/// <summary><c>mapping-set.json</c>: one source format (its tables, code systems, id namespace and the layouts it refuses).</summary>
public sealed class MappingSetDefinition
{
    /// <summary>The <c>--format</c> name, e.g. <c>synthea-csv</c>.</summary>
    public required string Format { get; init; }

    /// <summary>Free text for readers of the file.</summary>
    public string? Description { get; init; }

    /// <summary>The namespace of the UUID v5 ids derived from table name and key columns.</summary>
    public required Guid IdNamespace { get; init; }

    /// <summary>The field delimiter, one character (default <c>,</c>).</summary>
    public string Delimiter { get; init; } = ",";

    /// <summary>Whether column names must match in case (true for Synthea, where <c>ID</c> vs <c>Id</c> tells layouts apart).</summary>
    public bool ColumnNamesCaseSensitive { get; init; } = true;

    /// <summary>Whether file names must match in case (false for OMOP, whose exports use <c>PERSON.csv</c> or <c>person.csv</c>).</summary>
    public bool FileNamesCaseSensitive { get; init; } = true;

    /// <summary>Code system aliases (also OMOP <c>vocabulary_id</c>s) to canonical FHIR system URIs.</summary>
    public Dictionary<string, string> CodeSystems { get; init; } = [];

    /// <summary>The OMOP CONCEPT table, when concept ids must be turned into codes.</summary>
    public VocabularyDefinition? Vocabulary { get; init; }

    /// <summary>The table mappings, in the order they are run.</summary>
    public required List<TableEntryDefinition> Tables { get; init; }

    /// <summary>Export layouts that are recognised and refused as a whole.</summary>
    public List<LayoutRejectionDefinition> RejectLayouts { get; init; } = [];
}

/// <summary>One entry of <see cref="MappingSetDefinition.Tables"/>.</summary>
public sealed class TableEntryDefinition
{
    /// <summary>The table mapping file, relative to the mapping set's folder.</summary>
    public required string Mapping { get; init; }

    /// <summary>Whether an export without this table's file is an error (otherwise the table is simply absent).</summary>
    public bool Required { get; init; }
}

/// <summary>How to read the OMOP CONCEPT table.</summary>
public sealed class VocabularyDefinition
{
    /// <summary>The file name, e.g. <c>concept.csv</c>.</summary>
    public required string File { get; init; }

    /// <summary>Column with the concept id.</summary>
    public string IdColumn { get; init; } = "concept_id";

    /// <summary>Column with the vocabulary id (SNOMED, LOINC, …).</summary>
    public string VocabularyColumn { get; init; } = "vocabulary_id";

    /// <summary>Column with the code in that vocabulary.</summary>
    public string CodeColumn { get; init; } = "concept_code";

    /// <summary>Column with the concept's name.</summary>
    public string NameColumn { get; init; } = "concept_name";

    /// <summary>The <see cref="MappingSetDefinition.CodeSystems"/> alias of the OMOP concept-id code system; when set, every concept id also becomes a coding in it.</summary>
    public string? ConceptIdSystem { get; init; }

    /// <summary>Only concepts of these vocabularies are kept in memory (all when empty).</summary>
    public List<string> KeepVocabularies { get; init; } = [];
}

/// <summary>A layout refused as a whole: when <see cref="File"/> is present with this header shape, no file of the export is mapped.</summary>
public sealed class LayoutRejectionDefinition
{
    /// <summary>A name for the layout, used in the error.</summary>
    public required string Name { get; init; }

    /// <summary>The file whose header identifies the layout.</summary>
    public required string File { get; init; }

    /// <summary>Columns the header must all have (exact case).</summary>
    public List<string> HeaderHas { get; init; } = [];

    /// <summary>Columns the header must all lack (exact case).</summary>
    public List<string> HeaderLacks { get; init; } = [];

    /// <summary>The explanation given in the error records.</summary>
    public required string Message { get; init; }
}

/// <summary>One table mapping file: a source table, the FHIR resource type each row becomes, and the rules that fill it.</summary>
public sealed class TableMappingDefinition
{
    /// <summary>The logical table name; it names the table in derived ids (<c>person</c>, <c>conditions</c>).</summary>
    public required string Table { get; init; }

    /// <summary>The file name in the export.</summary>
    public required string File { get; init; }

    /// <summary>The FHIR R4 resource type each row produces.</summary>
    public required string ResourceType { get; init; }

    /// <summary>Free text.</summary>
    public string? Description { get; init; }

    /// <summary>The columns the rules may use.</summary>
    public required ColumnsDefinition Columns { get; init; }

    /// <summary>How the resource id is made.</summary>
    public required IdDefinition Id { get; init; }

    /// <summary>Small tables joined by key (loaded into memory).</summary>
    public List<LookupDefinition> Lookups { get; init; } = [];

    /// <summary>Rows that are deliberately not mapped, with the reason.</summary>
    public List<SkipDefinition> Skip { get; init; } = [];

    /// <summary>The element rules, applied in order; the first rule that gives an element a value wins.</summary>
    public required List<RuleDefinition> Rules { get; init; }
}

/// <summary>Declared columns: required ones must be in the header (an inner list means "at least one of"); optional ones may be absent and then read as empty.</summary>
public sealed class ColumnsDefinition
{
    /// <summary>Required columns; an inner list is a set of alternatives.</summary>
    public List<ColumnSpec> Required { get; init; } = [];

    /// <summary>Optional columns.</summary>
    public List<string> Optional { get; init; } = [];
}

/// <summary>The resource id: either a source column taken verbatim, or a UUID v5 derived from the table name and key columns.</summary>
public sealed class IdDefinition
{
    /// <summary>A column holding the source's own id.</summary>
    public string? Column { get; init; }

    /// <summary>Key columns for a derived id; an inner list takes the first non-empty of its columns.</summary>
    public List<ColumnSpec>? Derive { get; init; }
}

/// <summary>A small table joined to each row by key; its columns are used as <c>name.column</c>.</summary>
public sealed class LookupDefinition
{
    /// <summary>The prefix for its columns.</summary>
    public required string Name { get; init; }

    /// <summary>The file name in the export.</summary>
    public required string File { get; init; }

    /// <summary>The key column in the lookup table.</summary>
    public required string Key { get; init; }

    /// <summary>The column of the mapped table that holds the key.</summary>
    public required string On { get; init; }

    /// <summary>The lookup table's columns the rules may use.</summary>
    public required List<string> Columns { get; init; }
}

/// <summary>Rows matching <see cref="When"/> are not mapped.</summary>
public sealed class SkipDefinition
{
    /// <summary>The condition.</summary>
    public required ConditionDefinition When { get; init; }

    /// <summary>Why these rows carry no FHIR resource.</summary>
    public required string Reason { get; init; }
}

/// <summary>A condition on column values. Exactly one of the forms: a column test, <c>all</c>, <c>any</c> or <c>not</c>.</summary>
public sealed class ConditionDefinition
{
    /// <summary>The column tested.</summary>
    public string? Column { get; init; }

    /// <summary>The column equals this value (JSON <c>equals</c>).</summary>
    [JsonPropertyName("equals")]
    public string? EqualTo { get; init; }

    /// <summary>The column's value is one of these.</summary>
    public List<string>? In { get; init; }

    /// <summary>The column is (true) or is not (false) empty.</summary>
    public bool? Empty { get; init; }

    /// <summary>The column is (true) or is not (false) a decimal number.</summary>
    public bool? Number { get; init; }

    /// <summary>All of these hold.</summary>
    public List<ConditionDefinition>? All { get; init; }

    /// <summary>At least one of these holds.</summary>
    public List<ConditionDefinition>? Any { get; init; }

    /// <summary>This does not hold.</summary>
    public ConditionDefinition? Not { get; init; }
}

/// <summary>
/// One element rule. <see cref="Path"/> names the FHIR element; the value comes from exactly one of: a leaf value
/// (<see cref="Column"/>, <see cref="Value"/> or <see cref="Template"/>, typed by <see cref="Type"/>), a composite
/// (<see cref="Coding"/>, <see cref="CodeableConcept"/>, <see cref="Quantity"/>, <see cref="Reference"/>,
/// <see cref="Identifier"/>, <see cref="Concept"/>), or a group of nested <see cref="Rules"/> relative to the path.
/// </summary>
public sealed class RuleDefinition
{
    /// <summary>FHIR element path relative to the resource (or the enclosing group), e.g. <c>name[0].given[0]</c>.</summary>
    public required string Path { get; init; }

    /// <summary>The rule applies only when this holds.</summary>
    public ConditionDefinition? When { get; init; }

    /// <summary>Free text.</summary>
    public string? Description { get; init; }

    /// <summary>Leaf: the first non-empty of these columns.</summary>
    public ColumnSpec? Column { get; init; }

    /// <summary>Leaf: a constant (string, number or boolean).</summary>
    public JsonElement? Value { get; init; }

    /// <summary>Leaf: text with <c>{COLUMN}</c> placeholders.</summary>
    public string? Template { get; init; }

    /// <summary>Leaf: the value when the columns or template give none (before the map).</summary>
    public string? Default { get; init; }

    /// <summary>Leaf: value map applied to the source value (a null target means "no value").</summary>
    public Dictionary<string, string?>? Map { get; init; }

    /// <summary>Leaf: what an unmapped value does: <c>error</c> (default), <c>empty</c> or <c>keep</c>.</summary>
    public string? Unmapped { get; init; }

    /// <summary>Leaf: the FHIR primitive type: string (default), code, id, uri, markdown, date, dateTime, instant, decimal, integer, positiveInt, unsignedInt, boolean.</summary>
    public string? Type { get; init; }

    /// <summary>dateTime/instant: the zone of source times that carry none (<c>Z</c> or <c>+hh:mm</c>); without it such times are an error.</summary>
    public string? TimeZone { get; init; }

    /// <summary>dateTime: a zone-less time of exactly midnight becomes a plain date (OMOP <c>*_datetime</c> columns).</summary>
    public bool DateOnlyAtMidnight { get; init; }

    /// <summary>A Coding.</summary>
    public CodingDefinition? Coding { get; init; }

    /// <summary>A CodeableConcept with one coding and text.</summary>
    public CodeableConceptDefinition? CodeableConcept { get; init; }

    /// <summary>A Quantity.</summary>
    public QuantityDefinition? Quantity { get; init; }

    /// <summary>A Reference to another resource of this source.</summary>
    public ReferenceDefinition? Reference { get; init; }

    /// <summary>An Identifier.</summary>
    public IdentifierDefinition? Identifier { get; init; }

    /// <summary>A CodeableConcept from OMOP concept ids, through the vocabulary.</summary>
    public ConceptDefinition? Concept { get; init; }

    /// <summary>A group: nested rules with paths relative to <see cref="Path"/>.</summary>
    public List<RuleDefinition>? Rules { get; init; }
}

/// <summary>A value inside a composite: a column name (JSON string) or an object with column/value/template and an optional map.</summary>
[JsonConverter(typeof(ValueSpecConverter))]
public sealed class ValueSpec
{
    /// <summary>The first non-empty of these columns.</summary>
    public ColumnSpec? Column { get; init; }

    /// <summary>A constant.</summary>
    public JsonElement? Value { get; init; }

    /// <summary>Text with <c>{COLUMN}</c> placeholders.</summary>
    public string? Template { get; init; }

    /// <summary>The value when the columns or template give none (before the map).</summary>
    public string? Default { get; init; }

    /// <summary>Value map.</summary>
    public Dictionary<string, string?>? Map { get; init; }

    /// <summary>What an unmapped value does: error (default), empty or keep.</summary>
    public string? Unmapped { get; init; }
}

/// <summary>A Coding: nothing is written unless <see cref="Code"/> has a value.</summary>
public sealed class CodingDefinition
{
    /// <summary>The code system (an alias from codeSystems, or a URI).</summary>
    public ValueSpec? System { get; init; }

    /// <summary>The code.</summary>
    public required ValueSpec Code { get; init; }

    /// <summary>The display.</summary>
    public ValueSpec? Display { get; init; }
}

/// <summary>A CodeableConcept with at most one coding and a text: nothing is written unless code or text has a value.</summary>
public sealed class CodeableConceptDefinition
{
    /// <summary>The code system (an alias from codeSystems, or a URI).</summary>
    public ValueSpec? System { get; init; }

    /// <summary>The code.</summary>
    public ValueSpec? Code { get; init; }

    /// <summary>The coding's display.</summary>
    public ValueSpec? Display { get; init; }

    /// <summary>The concept's text.</summary>
    public ValueSpec? Text { get; init; }
}

/// <summary>A Quantity: nothing is written unless <see cref="Value"/> has a value, which must be a decimal number.</summary>
public sealed class QuantityDefinition
{
    /// <summary>The number.</summary>
    public required ValueSpec Value { get; init; }

    /// <summary>The human-readable unit.</summary>
    public ValueSpec? Unit { get; init; }

    /// <summary>The unit's code system (alias or URI), written only with a code.</summary>
    public ValueSpec? System { get; init; }

    /// <summary>The unit's code.</summary>
    public ValueSpec? Code { get; init; }

    /// <summary>An OMOP unit concept id column; when it resolves to a vocabulary with a known system, it gives system and code.</summary>
    public string? UnitConcept { get; init; }
}

/// <summary>A Reference <c>Type/id</c>: the id is a source id column, or derived exactly as the target table derives its own ids.</summary>
public sealed class ReferenceDefinition
{
    /// <summary>The target resource type.</summary>
    public required string Type { get; init; }

    /// <summary>The target's source id.</summary>
    public ValueSpec? Id { get; init; }

    /// <summary>The target's derived id.</summary>
    public DeriveDefinition? Derive { get; init; }

    /// <summary>Reference.display.</summary>
    public ValueSpec? Display { get; init; }
}

/// <summary>A derived id of another table: its logical name and this row's columns holding that table's key values.</summary>
public sealed class DeriveDefinition
{
    /// <summary>The target table's logical name.</summary>
    public required string Table { get; init; }

    /// <summary>This row's columns with the key values, in the target table's key order.</summary>
    public required List<ColumnSpec> Columns { get; init; }
}

/// <summary>An Identifier: nothing is written unless <see cref="Value"/> has a value.</summary>
public sealed class IdentifierDefinition
{
    /// <summary>Identifier.system (a URI, not an alias).</summary>
    public ValueSpec? System { get; init; }

    /// <summary>Identifier.value.</summary>
    public required ValueSpec Value { get; init; }

    /// <summary>Identifier.use.</summary>
    public ValueSpec? Use { get; init; }

    /// <summary>Identifier.type.</summary>
    public CodeableConceptDefinition? Type { get; init; }
}

/// <summary>
/// A CodeableConcept from OMOP concept id columns. Each non-zero concept id found in the CONCEPT table whose
/// vocabulary has a FHIR system becomes a coding (system, concept_code, concept_name); with the vocabulary's
/// <c>conceptIdSystem</c>, each id also becomes an OMOP coding. The text is the first resolved concept's name, or the source value.
/// </summary>
public sealed class ConceptDefinition
{
    /// <summary>Concept id columns, most specific (source concept) first.</summary>
    public required List<string> Columns { get; init; }

    /// <summary>The source value (e.g. <c>measurement_source_value</c>), used as text when no concept resolves.</summary>
    public ValueSpec? SourceValue { get; init; }
}

/// <summary>A column name, or a list of column names (alternatives, or "first non-empty", depending on where it is used).</summary>
[JsonConverter(typeof(ColumnSpecConverter))]
public sealed class ColumnSpec
{
    /// <summary>The column names, at least one.</summary>
    public required IReadOnlyList<string> Names { get; init; }

    /// <inheritdoc />
    public override string ToString() => Names.Count == 1 ? Names[0] : "[" + string.Join(", ", Names) + "]";
}

internal sealed class ColumnSpecConverter : JsonConverter<ColumnSpec>
{
    public override ColumnSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return new ColumnSpec { Names = [NonEmpty(reader.GetString())] };
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("a column is a name or a list of names");
        }

        var names = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new JsonException("a column list holds names only");
            }

            names.Add(NonEmpty(reader.GetString()));
        }

        if (names.Count == 0)
        {
            throw new JsonException("a column list cannot be empty");
        }

        return new ColumnSpec { Names = names };
    }

    private static string NonEmpty(string? name) =>
        string.IsNullOrWhiteSpace(name) ? throw new JsonException("a column name cannot be empty") : name;

    public override void Write(Utf8JsonWriter writer, ColumnSpec value, JsonSerializerOptions options)
    {
        if (value.Names.Count == 1)
        {
            writer.WriteStringValue(value.Names[0]);
            return;
        }

        writer.WriteStartArray();
        foreach (var name in value.Names)
        {
            writer.WriteStringValue(name);
        }

        writer.WriteEndArray();
    }
}

internal sealed class ValueSpecConverter : JsonConverter<ValueSpec>
{
    // The object form is read through this shadow type so the converter does not recurse into itself.
    private sealed class Shape
    {
        public ColumnSpec? Column { get; init; }
        public JsonElement? Value { get; init; }
        public string? Template { get; init; }
        public string? Default { get; init; }
        public Dictionary<string, string?>? Map { get; init; }
        public string? Unmapped { get; init; }
    }

    public override ValueSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var name = reader.GetString();
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new JsonException("a column name cannot be empty");
            }

            return new ValueSpec { Column = new ColumnSpec { Names = [name] } };
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("a value is a column name or an object with column, value or template");
        }

        var shape = JsonSerializer.Deserialize<Shape>(ref reader, options)!;
        return new ValueSpec { Column = shape.Column, Value = shape.Value, Template = shape.Template, Default = shape.Default, Map = shape.Map, Unmapped = shape.Unmapped };
    }

    public override void Write(Utf8JsonWriter writer, ValueSpec value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, new Shape { Column = value.Column, Value = value.Value, Template = value.Template, Default = value.Default, Map = value.Map, Unmapped = value.Unmapped }, options);
}

/// <summary>The strict JSON options for mapping files.</summary>
internal static class MappingJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowDuplicateProperties = false,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        ReadCommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };
}
