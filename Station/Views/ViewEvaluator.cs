using Hl7.Fhir.FhirPath;
using Hl7.Fhir.Model;
using Hl7.FhirPath;

namespace HealthTrain.Station.Views;

/// <summary>Evaluates a <see cref="ViewPlan"/> over one resource at a time; holds the FHIRPath context, so one instance serves one thread.</summary>
internal sealed class ViewEvaluator
{
    private readonly ViewPlan _plan;
    private readonly Dictionary<string, IEnumerable<PocoNode>> _environment;
    private readonly FhirEvaluationContext _context;

    public ViewEvaluator(ViewPlan plan)
    {
        _plan = plan;
        _environment = plan.Constants.ToDictionary(c => c.Key, c => (IEnumerable<PocoNode>)[c.Value], StringComparer.Ordinal);
        _context = new FhirEvaluationContext { Environment = _environment };
    }

    /// <summary>The rows <paramref name="resource"/> produces: none when a where clause does not hold.</summary>
    public List<object?[]> Rows(Resource resource)
    {
        var node = resource.ToPocoNode();
        _context.Resource = node;
        _context.RootResource = node;
        try
        {
            return Matches(node) ? Evaluate(_plan.Root, node, 0) : [];
        }
        catch (ViewEvaluationException e)
        {
            throw new ViewEvaluationException($"{resource.TypeName}/{resource.Id ?? "(no id)"}: {e.Message}", e.InnerException);
        }
    }

    private bool Matches(PocoNode resource)
    {
        foreach (var (path, expression) in _plan.Where)
        {
            var result = Run(expression, resource, 0, $"where path '{path}'");
            if (result.Count == 0) return false;
            if (result.Count > 1 || result[0].GetValue() is not bool holds)
                throw new ViewEvaluationException($"where path '{path}' must return a boolean, but returned {Describe(result)}");
            if (!holds) return false;
        }

        return true;
    }

    /// <summary>Rows of <paramref name="selection"/> for <paramref name="focus"/> (null: the empty focus of a forEachOrNull that found nothing).</summary>
    private List<object?[]> Evaluate(SelectionPlan selection, PocoNode? focus, int rowIndex)
    {
        var rows = new List<object?[]>();
        if (!selection.Iterates)
        {
            // Without its own iteration a selection keeps the enclosing focus and %rowIndex.
            AddRows(selection, focus, rowIndex, rows);
            return rows;
        }

        var foci = selection.ForEach is { } forEach
            ? Run(forEach, focus, rowIndex, "forEach")
            : RepeatFoci(selection, focus, rowIndex);
        for (var i = 0; i < foci.Count; i++)
        {
            AddRows(selection, foci[i], i, rows);
        }

        if (foci.Count == 0 && selection.OrNull)
        {
            AddRows(selection, null, 0, rows);
            // forEachOrNull promises a row even when a nested forEach finds nothing on the empty focus.
            if (rows.Count == 0) rows.Add(new object?[selection.Schema.Count]);
        }

        return rows;
    }

    /// <summary>Adds the cross join of this focus's columns, nested selections and union.</summary>
    private void AddRows(SelectionPlan selection, PocoNode? focus, int rowIndex, List<object?[]> into)
    {
        var row = new object?[selection.Schema.Count];
        for (var i = 0; i < selection.Columns.Count; i++)
        {
            row[i] = ColumnValue(selection.Columns[i], focus, rowIndex);
        }

        List<object?[]> product = [row];
        var offset = selection.Columns.Count;
        foreach (var nested in selection.Select)
        {
            product = Cross(product, Evaluate(nested, focus, rowIndex), offset);
            offset += nested.Schema.Count;
            if (product.Count == 0) return;
        }

        if (selection.UnionAll.Count > 0)
        {
            var union = new List<object?[]>();
            foreach (var branch in selection.UnionAll)
            {
                union.AddRange(Evaluate(branch, focus, rowIndex));
            }

            product = Cross(product, union, offset);
        }

        into.AddRange(product);
    }

    private static List<object?[]> Cross(List<object?[]> left, List<object?[]> right, int offset)
    {
        var result = new List<object?[]>(left.Count * right.Count);
        foreach (var l in left)
        {
            foreach (var r in right)
            {
                var row = (object?[])l.Clone();
                Array.Copy(r, 0, row, offset, r.Length);
                result.Add(row);
            }
        }

        return result;
    }

    private object? ColumnValue(ColumnPlan column, PocoNode? focus, int rowIndex)
    {
        var what = $"column '{column.Column.Name}'";
        var results = Run(column.Path, focus, rowIndex, what);
        if (column.Column.Collection) return results.Select(n => ViewValues.ToValue(n, column.Column)).ToList();
        return results.Count switch
        {
            0 => null,
            1 => ViewValues.ToValue(results[0], column.Column),
            _ => throw new ViewEvaluationException(
                $"{what} ('{column.Column.Path}') returned {results.Count} values for one row; declare it \"collection\": true or select one value, e.g. with first()"),
        };
    }

    /// <summary>Every node the repeat paths reach from the focus, depth first, each before its own descendants.</summary>
    private List<PocoNode> RepeatFoci(SelectionPlan selection, PocoNode? focus, int rowIndex)
    {
        var reached = new List<PocoNode>();
        if (focus is null) return reached;
        var ancestors = new List<Base>();

        void Visit(PocoNode node)
        {
            ancestors.Add(node.Poco);
            foreach (var path in selection.Repeat)
            {
                foreach (var child in Run(path, node, rowIndex, "repeat"))
                {
                    // A path that leads back up (e.g. %resource) would recurse forever.
                    if (ancestors.Any(a => ReferenceEquals(a, child.Poco)))
                        throw new ViewEvaluationException("a repeat path leads back to an element it came from; repeat paths must go down the tree");
                    reached.Add(child);
                    Visit(child);
                }
            }

            ancestors.RemoveAt(ancestors.Count - 1);
        }

        Visit(focus);
        return reached;
    }

    private List<PocoNode> Run(CompiledExpression expression, PocoNode? focus, int rowIndex, string what)
    {
        _environment[ViewFhirPath.RowIndexVariable] = [PocoNode.ForAnyPrimitive(rowIndex)];
        try
        {
            // Materialized at once: %rowIndex changes before the next expression runs.
            return expression(focus is null ? [] : [focus], _context).ToList();
        }
        catch (Exception e) when (e is not ViewEvaluationException)
        {
            throw new ViewEvaluationException($"{what} failed: {e.Message}", e);
        }
    }

    private static string Describe(List<PocoNode> result) =>
        result.Count > 1 ? $"{result.Count} values" : $"the {result[0].Poco?.TypeName ?? "value"} '{result[0].GetValue()}'";
}
