namespace HealthTrain.Cli;

/// <summary>Reports on the caller's thread, unlike <see cref="Progress{T}"/>, so no report arrives after the call returns.</summary>
public sealed class ImmediateProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
