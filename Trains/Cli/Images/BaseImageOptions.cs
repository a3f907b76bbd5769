namespace HealthTrain.Cli.Images;

/// <summary>Where <see cref="BaseImageBuilder"/> finds its recipes and keeps its cache.</summary>
public sealed record BaseImageOptions
{
    /// <summary>The directory holding <c>trixie-base.packages</c> and <c>runtime-seed/</c> (Trains/BaseImages in the repository).</summary>
    public required string BaseImagesDirectory { get; init; }

    /// <summary>Cache root: apt state and .debs under <c>apt/</c>, runtime file lists under <c>runtime/</c>, locks under <c>locks/</c>.</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Run <c>apt-get update</c> and resolve package versions again instead of trusting the cached resolution.</summary>
    public bool Refresh { get; init; }

    /// <summary>The layout of a HealthTrain checkout: recipes in Trains/BaseImages, cache in .healthtrain/cache (git-ignored).</summary>
    public static BaseImageOptions ForRepository(string repositoryRoot) => new()
    {
        BaseImagesDirectory = Path.Combine(repositoryRoot, "Trains", "BaseImages"),
        CacheDirectory = Path.Combine(repositoryRoot, ".healthtrain", "cache"),
    };
}
