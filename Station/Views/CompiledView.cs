using System.Text.Json;
using Hl7.Fhir.Model;

namespace HealthTrain.Station.Views;

/// <summary>A validated, compiled ViewDefinition that turns a stream of FHIR resources into rows, one resource at a time.</summary>
/// <remarks>
/// Rows are arrays aligned with <see cref="Columns"/>. A value is null, <see cref="string"/>, <see cref="bool"/>,
/// <see cref="long"/> or <see cref="decimal"/>; a collection column holds an <see cref="IReadOnlyList{T}"/> of those.
/// Only the current resource's rows are held in memory. A compiled view may be evaluated from several threads;
/// each enumeration has its own FHIRPath context.
/// </remarks>
public sealed class CompiledView
{
    private readonly ViewPlan _plan;

    private CompiledView(ViewDefinition definition, ViewPlan plan)
    {
        Definition = definition;
        _plan = plan;
    }

    /// <summary>The definition this view was compiled from.</summary>
    public ViewDefinition Definition { get; }

    /// <summary>The resource type the view reads.</summary>
    public string ResourceType => Definition.Resource;

    /// <summary>The view's columns in output order.</summary>
    public IReadOnlyList<ViewColumn> Columns => _plan.Root.Schema;

    /// <summary>Validates and compiles; throws <see cref="ViewDefinitionException"/> listing every problem.</summary>
    public static CompiledView Compile(ViewDefinition definition) => new(definition, ViewPlanner.Plan(definition));

    /// <summary>Reads, validates and compiles ViewDefinition JSON; throws <see cref="ViewDefinitionException"/> listing every problem.</summary>
    public static CompiledView Compile(JsonElement viewDefinition) => Compile(ViewDefinitionReader.Read(viewDefinition));

    /// <summary>Parses, validates and compiles ViewDefinition JSON text; throws <see cref="ViewDefinitionException"/> listing every problem.</summary>
    public static CompiledView Parse(string viewDefinitionJson) => Compile(ViewDefinitionReader.Parse(viewDefinitionJson));

    /// <summary>Rows of every resource of <see cref="ResourceType"/> in <paramref name="resourcesJson"/> (resources of other types are skipped), lazily.</summary>
    /// <exception cref="ViewEvaluationException">A resource is not FHIR JSON, or the view cannot be evaluated over it.</exception>
    public IEnumerable<object?[]> Evaluate(IEnumerable<string> resourcesJson) =>
        Evaluate(resourcesJson.Select(FhirResourceJson.Parse));

    /// <summary>Rows of every resource of <see cref="ResourceType"/> in <paramref name="resources"/> (resources of other types are skipped), lazily.</summary>
    /// <exception cref="ViewEvaluationException">The view cannot be evaluated over a resource.</exception>
    public IEnumerable<object?[]> Evaluate(IEnumerable<Resource> resources)
    {
        var evaluator = new ViewEvaluator(_plan);
        foreach (var resource in resources)
        {
            if (resource.TypeName != ResourceType) continue;
            foreach (var row in evaluator.Rows(resource))
            {
                yield return row;
            }
        }
    }
}
