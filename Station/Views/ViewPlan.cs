using HealthTrain.Trains.Protocol;
using Hl7.Fhir.Model;
using Hl7.FhirPath;

namespace HealthTrain.Station.Views;

/// <summary>A column with its compiled path.</summary>
internal sealed record ColumnPlan(ViewColumn Column, CompiledExpression Path);

/// <summary>A compiled <c>select</c>: how it finds its foci, what it computes per focus, and the columns it produces in output order.</summary>
internal sealed record SelectionPlan(
    CompiledExpression? ForEach,
    bool OrNull,
    IReadOnlyList<CompiledExpression> Repeat,
    IReadOnlyList<ColumnPlan> Columns,
    IReadOnlyList<SelectionPlan> Select,
    IReadOnlyList<SelectionPlan> UnionAll,
    IReadOnlyList<ViewColumn> Schema)
{
    public bool Iterates => ForEach is not null || Repeat.Count > 0;
}

/// <summary>A whole compiled view: the filters, the constants' values and the root selection.</summary>
internal sealed record ViewPlan(
    IReadOnlyList<(string Path, CompiledExpression Expression)> Where,
    IReadOnlyDictionary<string, PocoNode> Constants,
    SelectionPlan Root);

/// <summary>Compiles a <see cref="ViewDefinition"/> into a <see cref="ViewPlan"/>, reporting every semantic problem (FHIRPath syntax, undefined constants, column clashes).</summary>
internal static class ViewPlanner
{
    public static ViewPlan Plan(ViewDefinition view)
    {
        var errors = new List<ValidationError>();
        var constants = new Dictionary<string, PocoNode>(StringComparer.Ordinal);
        for (var i = 0; i < view.Constants.Count; i++)
        {
            var constant = view.Constants[i];
            if (constant.Name == ViewFhirPath.RowIndexVariable)
                errors.Add(new($"$.constant[{i}].name", $"'{constant.Name}' is reserved for the row index"));
            else if (ViewConstantValues.ToNode(constant, $"$.constant[{i}]", errors) is { } node)
                constants[constant.Name] = node;
        }

        var names = view.Constants.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var where = new List<(string, CompiledExpression)>();
        for (var i = 0; i < view.Where.Count; i++)
        {
            if (ViewFhirPath.Compile(view.Where[i], names, $"$.where[{i}].path", errors) is { } compiled)
                where.Add((view.Where[i], compiled));
        }

        // The view itself acts as a selection without columns whose nested selections are the top-level ones.
        var root = new ViewSelect([], view.Select, null, null, [], []);
        var plan = PlanSelection(root, "$", names, errors);

        var duplicates = plan.Schema.GroupBy(c => c.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
            errors.Add(new("$.select", $"column name{(duplicates.Count > 1 ? "s" : "")} {string.Join(", ", duplicates.Select(d => $"'{d}'"))} used more than once; every column of a view needs its own name"));

        if (errors.Count > 0) throw new ViewDefinitionException(errors);
        return new ViewPlan(where, constants, plan);
    }

    private static SelectionPlan PlanSelection(ViewSelect select, string path, IReadOnlySet<string> constants, List<ValidationError> errors)
    {
        CompiledExpression? Compile(string expression, string at) => ViewFhirPath.Compile(expression, constants, at, errors);

        var forEach = select.ForEach is { } each ? Compile(each, $"{path}.forEach")
            : select.ForEachOrNull is { } orNull ? Compile(orNull, $"{path}.forEachOrNull")
            : null;
        var repeat = select.Repeat.Select((r, i) => Compile(r, $"{path}.repeat[{i}]")).OfType<CompiledExpression>().ToList();

        var columns = new List<ColumnPlan>();
        for (var i = 0; i < select.Columns.Count; i++)
        {
            if (Compile(select.Columns[i].Path, $"{path}.column[{i}].path") is { } compiled)
                columns.Add(new ColumnPlan(select.Columns[i], compiled));
        }

        var nested = select.Select.Select((s, i) => PlanSelection(s, $"{path}.select[{i}]", constants, errors)).ToList();
        var unionAll = select.UnionAll.Select((s, i) => PlanSelection(s, $"{path}.unionAll[{i}]", constants, errors)).ToList();
        for (var i = 1; i < unionAll.Count; i++)
        {
            var first = unionAll[0].Schema.Select(c => c.Name);
            var other = unionAll[i].Schema.Select(c => c.Name);
            if (!first.SequenceEqual(other, StringComparer.Ordinal))
                errors.Add(new($"{path}.unionAll[{i}]",
                    $"a unionAll branch must produce the same columns in the same order as the first: ({string.Join(", ", first)}) vs ({string.Join(", ", other)})"));
        }

        // Output order: this selection's columns, then each nested selection's, then the union's.
        var schema = select.Columns
            .Concat(nested.SelectMany(n => n.Schema))
            .Concat(unionAll.Count > 0 ? unionAll[0].Schema : [])
            .ToList();
        return new SelectionPlan(forEach, select.ForEachOrNull is not null, repeat, columns, nested, unionAll, schema);
    }
}
