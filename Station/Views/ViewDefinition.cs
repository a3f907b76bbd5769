using System.Text.Json;

namespace HealthTrain.Station.Views;

/// <summary>A SQL-on-FHIR v2 ViewDefinition as read from JSON: the resource type it reads, its selections, filters and constants.</summary>
/// <param name="Name">The view's <c>name</c> (its table name), or null when absent.</param>
/// <param name="Resource">The FHIR resource type whose instances feed the view, e.g. <c>Patient</c>.</param>
/// <param name="Constants">Named values the view's FHIRPath expressions refer to as <c>%name</c>.</param>
/// <param name="Select">The top-level selections; their rows are combined as a cross join per resource.</param>
/// <param name="Where">FHIRPath filters a resource must all satisfy (true) to produce rows.</param>
public sealed record ViewDefinition(
    string? Name,
    string Resource,
    IReadOnlyList<ViewConstant> Constants,
    IReadOnlyList<ViewSelect> Select,
    IReadOnlyList<string> Where);

/// <summary>One <c>select</c> element: columns, nested selections and unions evaluated over one iteration focus.</summary>
/// <param name="Columns">Columns produced directly by this selection, in order.</param>
/// <param name="Select">Nested selections, cross-joined with this selection's columns.</param>
/// <param name="ForEach">FHIRPath whose every result becomes a focus (one or more rows each); none produce no rows.</param>
/// <param name="ForEachOrNull">Like <paramref name="ForEach"/>, but an empty result still produces one row with nulls.</param>
/// <param name="Repeat">FHIRPaths followed recursively from the focus; every node reached becomes a focus.</param>
/// <param name="UnionAll">Selections whose rows are concatenated; each must produce the same columns in the same order.</param>
public sealed record ViewSelect(
    IReadOnlyList<ViewColumn> Columns,
    IReadOnlyList<ViewSelect> Select,
    string? ForEach,
    string? ForEachOrNull,
    IReadOnlyList<string> Repeat,
    IReadOnlyList<ViewSelect> UnionAll);

/// <summary>One output column: its name, the FHIRPath that computes it, its declared FHIR type and whether it holds a collection.</summary>
public sealed record ViewColumn(string Name, string Path, string? Type, bool Collection, string? Description);

/// <summary>A named constant: the FHIR primitive type of its <c>value[x]</c> (e.g. <c>date</c>) and the JSON value.</summary>
public sealed record ViewConstant(string Name, string ValueType, JsonElement Value);
