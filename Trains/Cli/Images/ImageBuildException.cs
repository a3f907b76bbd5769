namespace HealthTrain.Cli.Images;

/// <summary>A base or train image could not be built; the message says which step failed and why.</summary>
public sealed class ImageBuildException : Exception
{
    public ImageBuildException(string message) : base(message) { }

    public ImageBuildException(string message, Exception inner) : base(message, inner) { }
}
