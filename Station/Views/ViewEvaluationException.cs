namespace HealthTrain.Station.Views;

/// <summary>Thrown when a valid ViewDefinition cannot be evaluated over a resource, e.g. a single-valued column meets several values.</summary>
public sealed class ViewEvaluationException(string message, Exception? inner = null) : Exception(message, inner);
