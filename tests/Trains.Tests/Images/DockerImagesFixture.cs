using System.Collections.Concurrent;
using Docker.DotNet;
using HealthTrain.Cli.Images;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>
/// Builds, once per test run, the base images (with the repository's real cache) and the
/// misbehaving-train fixture image, against the real Docker daemon. Tests that need Docker share it
/// through <see cref="DockerImagesCollection"/>, which also keeps them from running in parallel.
/// </summary>
public sealed class DockerImagesFixture : IAsyncLifetime
{
    public IDockerClient Docker { get; } = ImageTestEnvironment.CreateDocker();
    public ConcurrentQueue<string> Log { get; } = new();
    public BaseImageBuilder BaseBuilder { get; private set; } = null!;
    public TrainImageBuilder TrainBuilder { get; private set; } = null!;

    /// <summary>The first base build of this run: it may or may not have found the images cached.</summary>
    public BaseImages FirstBaseBuild { get; private set; } = null!;

    public TrainPublish MisbehavingPublish { get; private set; } = null!;
    public TrainImage MisbehavingImage { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var progress = new QueueProgress(Log);
        BaseBuilder = new BaseImageBuilder(Docker, BaseImageOptions.ForRepository(ImageTestEnvironment.RepositoryRoot), progress);
        TrainBuilder = new TrainImageBuilder(Docker, BaseBuilder, progress);
        FirstBaseBuild = await BaseBuilder.BuildAsync();
        MisbehavingPublish = await TrainBuilder.PublishAsync(ImageTestEnvironment.MisbehavingTrain);
        MisbehavingImage = await TrainBuilder.BuildImageAsync(MisbehavingPublish);
    }

    public Task DisposeAsync()
    {
        MisbehavingPublish?.Dispose();
        Docker.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Reports synchronously, so the log keeps the builders' order.</summary>
    private sealed class QueueProgress(ConcurrentQueue<string> queue) : IProgress<string>
    {
        public void Report(string value) => queue.Enqueue(value);
    }
}

/// <summary>The Docker-backed image tests: one fixture, run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class DockerImagesCollection : ICollectionFixture<DockerImagesFixture>
{
    public const string Name = "docker images";
}
