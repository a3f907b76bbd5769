using Docker.DotNet;
using Docker.DotNet.Models;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Execution;

/// <summary>A train image present in the local Docker engine, pinned by its registry digest.</summary>
public sealed record LocalTrainImage(string Reference, string ImageId, IReadOnlyDictionary<string, string> Labels, string User, bool Pulled)
{
    /// <summary>How the image would run, as its config says.</summary>
    public ImageConfigSummary Config { get; init; } = new(User, [], [], [], [], [], Labels, null);
}

/// <summary>Pulls train images through the hub's registry gateway, always by digest, and reuses what is already local.</summary>
public sealed class TrainImages(DockerClient docker, StationOptions options)
{
    /// <summary>Makes the image <c>repository@digest</c> available locally and reads its config.</summary>
    public async Task<LocalTrainImage> EnsureAsync(string repository, string digest, CancellationToken ct)
    {
        var reference = $"{options.RegistryHost}/{repository}@{digest}";
        var pulled = false;
        var image = await FindLocalAsync(reference, digest, ct);
        if (image is null)
        {
            string? pullError = null;
            await docker.Images.CreateImageAsync(
                new ImagesCreateParameters { FromImage = $"{options.RegistryHost}/{repository}", Tag = digest },
                new AuthConfig { ServerAddress = options.RegistryHost, Username = options.Name, Password = options.Token },
                new ImmediateProgress<JSONMessage>(m => { if (m.Error is not null) pullError = m.Error.Message; }), ct);
            if (pullError is not null) throw new InvalidOperationException($"pulling {reference} failed: {pullError}");
            image = await docker.Images.InspectImageAsync(reference, ct);
            pulled = true;
        }
        // Docker verifies content against the digest on pull; check the engine recorded the same digest.
        if (image.RepoDigests?.Any(d => d.EndsWith("@" + digest, StringComparison.Ordinal)) != true)
            throw new InvalidOperationException($"the local image does not carry the digest {digest}");
        var labels = (image.Config?.Labels ?? new Dictionary<string, string>()).AsReadOnly();
        var c = image.Config;
        var config = new ImageConfigSummary(c?.User ?? "", [.. c?.Entrypoint ?? []], [.. c?.Cmd ?? []], [.. c?.Env ?? []],
            [.. (c?.ExposedPorts?.Keys ?? []).Order(StringComparer.Ordinal)], [.. (c?.Volumes?.Keys ?? []).Order(StringComparer.Ordinal)], labels,
            string.IsNullOrEmpty(c?.WorkingDir) ? null : c.WorkingDir);
        // Containers are created from the image id: the exact content, whatever tags move meanwhile.
        return new LocalTrainImage(image.ID, image.ID, labels, c?.User ?? "", pulled) { Config = config };
    }

    /// <summary>
    /// The image if it is already local: by this reference, or by the same manifest digest recorded from any
    /// registry address (a digest names the exact content, so where it was pulled from does not matter).
    /// </summary>
    private async Task<ImageInspectResponse?> FindLocalAsync(string reference, string digest, CancellationToken ct)
    {
        try
        {
            return await docker.Images.InspectImageAsync(reference, ct);
        }
        catch (DockerImageNotFoundException)
        {
        }
        var images = await docker.Images.ListImagesAsync(new ImagesListParameters { All = false }, ct);
        var match = images.FirstOrDefault(i => i.RepoDigests?.Any(d => d.EndsWith("@" + digest, StringComparison.Ordinal)) == true);
        return match is null ? null : await docker.Images.InspectImageAsync(match.ID, ct);
    }
}

/// <summary>Reports on the caller's thread, unlike <see cref="Progress{T}"/>, so nothing arrives after the call returns.</summary>
internal sealed class ImmediateProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
