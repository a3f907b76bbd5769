namespace HealthTrain.Cli.Images;

/// <summary>What one <see cref="BaseImageBuilder.BuildAsync"/> call had to do; <see cref="None"/> means everything came from the cache.</summary>
[Flags]
public enum BaseBuildSteps
{
    None = 0,
    /// <summary>The trixie package index was downloaded (<c>apt-get update</c>).</summary>
    AptUpdate = 1,
    /// <summary><c>healthtrain/trixie-base</c> was assembled and imported.</summary>
    BaseImage = 2,
    /// <summary>The runtime seed was published to learn or rebuild the runtime files.</summary>
    SeedPublish = 4,
    /// <summary><c>healthtrain/dotnet-runtime</c> was built.</summary>
    RuntimeImage = 8,
    /// <summary><c>healthtrain/torch-runtime</c> was built.</summary>
    TorchImage = 16,
}

/// <summary>The two base images, their exact contents and what building them took.</summary>
/// <param name="BaseReference"><c>healthtrain/trixie-base:&lt;hash&gt;</c>.</param>
/// <param name="RuntimeReference"><c>healthtrain/dotnet-runtime:&lt;hash&gt;</c>, the image trains build FROM.</param>
/// <param name="Packages">The exact Debian packages in the base.</param>
/// <param name="RuntimeFiles">The runtime files in the runtime image's /app.</param>
/// <param name="Performed">The work this call did.</param>
public sealed record BaseImages(
    string BaseReference,
    string RuntimeReference,
    IReadOnlyList<ResolvedPackage> Packages,
    RuntimeFileList RuntimeFiles,
    BaseBuildSteps Performed)
{
    /// <summary>True when either image was (re)built rather than found.</summary>
    public bool Built => (Performed & (BaseBuildSteps.BaseImage | BaseBuildSteps.RuntimeImage)) != 0;
}
