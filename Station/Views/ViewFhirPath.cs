using HealthTrain.Trains.Protocol;
using Hl7.Fhir.FhirPath;
using Hl7.FhirPath;
using Hl7.FhirPath.Expressions;

namespace HealthTrain.Station.Views;

/// <summary>FHIRPath as views use it: Firely's compiler with the standard and FHIR functions plus the SQL-on-FHIR ones, and the checks a view needs before it runs.</summary>
internal static class ViewFhirPath
{
    /// <summary>The environment variable holding the index of the current iteration focus.</summary>
    public const string RowIndexVariable = "rowIndex";

    // Supplied by FHIRPath itself (FHIR's %resource, %context, terminology URLs) or by SQL-on-FHIR (%rowIndex).
    private static readonly HashSet<string> BuiltinVariables =
        ["context", "resource", "rootResource", "ucum", "sct", "loinc", RowIndexVariable];

    // FHIRPath functions whose Firely versions differ from what SQL-on-FHIR expects, and the names of the view's own.
    private static readonly Dictionary<string, string> Replaced = new(StringComparer.Ordinal)
    {
        ["join"] = JoinFunction.Name,
        ["lowBoundary"] = BoundaryFunctions.LowBoundary,
        ["highBoundary"] = BoundaryFunctions.HighBoundary,
    };

    private static readonly FhirPathCompiler Compiler = new(CreateSymbols());

    private static SymbolTable CreateSymbols()
    {
        var standard = new SymbolTable().AddStandardFP().AddFhirExtensions();
        var views = new SymbolTable(standard);
        ResourceKeyFunctions.Register(views);
        BoundaryFunctions.Register(views);
        JoinFunction.Register(views);
        return views;
    }

    /// <summary>Compiles <paramref name="expression"/>, adding a problem at <paramref name="path"/> when it does not parse or uses an undefined constant.</summary>
    public static CompiledExpression? Compile(string expression, IReadOnlySet<string> constants, string path, List<ValidationError> errors)
    {
        Expression parsed;
        try
        {
            parsed = Compiler.Parse(expression);
        }
        catch (Exception e)
        {
            errors.Add(new(path, $"'{expression}' is not valid FHIRPath: {e.Message}"));
            return null;
        }

        var undefined = Nodes(parsed)
            .OfType<VariableRefExpression>()
            .Where(v => v is not AxisExpression && !BuiltinVariables.Contains(v.Name) && !constants.Contains(v.Name))
            .Select(v => "%" + v.Name)
            .Distinct()
            .ToList();
        if (undefined.Count > 0)
        {
            errors.Add(new(path, $"'{expression}' uses undefined constant{(undefined.Count > 1 ? "s" : "")} {string.Join(", ", undefined)}"));
            return null;
        }

        try
        {
            return Compiler.Compile(Nodes(parsed).Any(NeedsRewrite) ? parsed.Accept(new Rewriter()) : parsed);
        }
        catch (Exception e)
        {
            errors.Add(new(path, $"'{expression}' cannot be compiled: {e.Message}"));
            return null;
        }
    }

    private static bool NeedsRewrite(Expression node) =>
        node is FunctionCallExpression call && call.GetType() == typeof(FunctionCallExpression)
        && (Replaced.ContainsKey(call.FunctionName) || call.FunctionName == ResourceKeyFunctions.GetReferenceKey);

    private static IEnumerable<Expression> Nodes(Expression expression)
    {
        var pending = new Stack<Expression>();
        pending.Push(expression);
        while (pending.Count > 0)
        {
            var node = pending.Pop();
            if (node is null) continue;
            yield return node;
            switch (node)
            {
                case IndexerExpression indexer:
                    pending.Push(indexer.Focus);
                    pending.Push(indexer.Index);
                    break;
                case FunctionCallExpression call:
                    pending.Push(call.Focus);
                    foreach (var argument in call.Arguments) pending.Push(argument);
                    break;
                case BracketExpression bracket:
                    pending.Push(bracket.Operand);
                    break;
                case NewNodeListInitExpression list:
                    foreach (var item in list.Contents) pending.Push(item);
                    break;
            }
        }
    }

    /// <summary>Rebuilds a parsed expression so that it calls the view functions and passes type specifiers as names.</summary>
    /// <remarks>
    /// Firely looks a function up among every table in the chain, and when a name has several candidates it
    /// dispatches at run time, returning nothing for an empty focus without calling any of them. So the view's
    /// own join/lowBoundary/highBoundary live under names of their own, and calls are renamed to reach them.
    /// FHIRPath also parses the bare type in <c>getReferenceKey(Patient)</c> as a child path of the focus (Firely
    /// treats only is/as/ofType arguments as types); it becomes the string <c>'Patient'</c>.
    /// </remarks>
    private sealed class Rewriter : ExpressionVisitor<Expression>
    {
        public override Expression VisitConstant(ConstantExpression expression) => expression;

        public override Expression VisitVariableRef(VariableRefExpression expression) => expression;

        public override Expression VisitNewNodeListInit(NewNodeListInitExpression expression) =>
            new NewNodeListInitExpression(expression.Contents.Select(Rewrite).ToList(), expression.Location);

        public override Expression VisitCustomExpression(CustomExpression expression) => expression is BracketExpression bracket
            ? new BracketExpression(Rewrite(bracket.Operand), bracket.Location)
            : expression.Reduce().Accept(this);

        public override Expression VisitFunctionCall(FunctionCallExpression expression) => expression switch
        {
            ChildExpression child => new ChildExpression(Rewrite(child.Focus), child.ChildName, child.Location),
            IndexerExpression indexer => new IndexerExpression(Rewrite(indexer.Focus), Rewrite(indexer.Index), indexer.Location),
            // Firely's Left/Right/Operand read the focus ($that); the operands are the arguments.
            BinaryExpression binary => new BinaryExpression(binary.Op, Rewrite(binary.Arguments.First()), Rewrite(binary.Arguments.Last()), binary.Location),
            UnaryExpression unary => new UnaryExpression(unary.Op, Rewrite(unary.Arguments.Single()), unary.Location),
            _ when expression.GetType() == typeof(FunctionCallExpression) => new FunctionCallExpression(
                Rewrite(expression.Focus),
                Replaced.GetValueOrDefault(expression.FunctionName, expression.FunctionName),
                expression.ExpressionType,
                expression.Arguments.Select(argument => Argument(expression.FunctionName, argument)).ToList(),
                expression.Location),
            _ => expression, // other forms (sort directions) are kept as parsed
        };

        private Expression Argument(string function, Expression argument) =>
            function == ResourceKeyFunctions.GetReferenceKey && argument is ChildExpression { Focus: AxisExpression { AxisName: "that" } } type
                ? new ConstantExpression(type.ChildName, type.Location)
                : Rewrite(argument);

        private Expression Rewrite(Expression expression) => expression.Accept(this);
    }
}
