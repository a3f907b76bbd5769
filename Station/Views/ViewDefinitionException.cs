using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Views;

/// <summary>Thrown when a ViewDefinition is invalid; carries every problem found, each with its JSON path.</summary>
public sealed class ViewDefinitionException(IReadOnlyList<ValidationError> errors)
    : Exception("the ViewDefinition is invalid:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors))
{
    /// <summary>Every problem found, in document order.</summary>
    public IReadOnlyList<ValidationError> Errors { get; } = errors;
}
