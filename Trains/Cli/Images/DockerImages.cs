using System.Formats.Tar;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace HealthTrain.Cli.Images;

/// <summary>The few Docker Engine image operations the builders need, with Docker.DotNet's stream errors turned into exceptions.</summary>
internal static class DockerImages
{
    /// <summary>The local image <paramref name="reference"/>, or null when the daemon has none.</summary>
    public static async Task<ImageInspectResponse?> InspectOrNullAsync(IDockerClient docker, string reference, CancellationToken cancellationToken)
    {
        try
        {
            return await docker.Images.InspectImageAsync(reference, cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary><c>docker import</c>: a rootfs tar becomes a one-layer image tagged <paramref name="reference"/>.</summary>
    public static async Task<string> ImportAsync(IDockerClient docker, Stream rootfsTar, string reference, IList<string> changes, Action<string> log, CancellationToken cancellationToken)
    {
        var (repository, tag) = Split(reference);
        var errors = new List<string>();
        await docker.Images.CreateImageAsync(
            new ImagesCreateParameters { FromSrc = "-", Repo = repository, Tag = tag, Changes = changes },
            rootfsTar,
            authConfig: null,
            new Progress(m => Collect(m, errors, log)),
            cancellationToken);
        return await RequireAsync(docker, reference, "import", errors, cancellationToken);
    }

    /// <summary><c>docker build</c> (the daemon's classic builder) from a tar context; returns the image ID.</summary>
    public static async Task<string> BuildAsync(IDockerClient docker, Stream context, ImageBuildParameters parameters, Action<string> log, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        await docker.Images.BuildImageFromDockerfileAsync(parameters, context, authConfigs: null, headers: null,
            new Progress(m => Collect(m, errors, log)), cancellationToken);
        return await RequireAsync(docker, parameters.Tags[0], "build", errors, cancellationToken);
    }

    /// <summary>Reads one file from an image without running it: create a container, copy the file out, remove the container.</summary>
    public static async Task<byte[]> ReadFileAsync(IDockerClient docker, string image, string path, CancellationToken cancellationToken)
    {
        // Never started, so the command only has to be present, not to exist in the image.
        var container = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = ["/nonexistent"],
            NetworkDisabled = true,
            HostConfig = new HostConfig { NetworkMode = "none" },
        }, cancellationToken);
        try
        {
            var archive = await docker.Containers.GetArchiveFromContainerAsync(container.ID,
                new GetArchiveFromContainerParameters { Path = path }, statOnly: false, cancellationToken);
            // Buffered first: TarReader reading Docker.DotNet's chunked response stream directly can hit a
            // spurious EndOfStreamException near its end; the files read this way are small.
            using var tar = new MemoryStream();
            await using (archive.Stream) await archive.Stream.CopyToAsync(tar, cancellationToken);
            tar.Position = 0;
            var reader = new TarReader(tar);
            while (await reader.GetNextEntryAsync(copyData: true, cancellationToken) is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                using var buffer = new MemoryStream();
                await entry.DataStream.CopyToAsync(buffer, cancellationToken);
                return buffer.ToArray();
            }
            throw new ImageBuildException($"{path} in {image} is not a regular file");
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ImageBuildException($"{image} has no {path}", e);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
        }
    }

    /// <summary>Splits <c>repo[:tag]</c>; the ':' of a registry port is not a tag separator.</summary>
    public static (string Repository, string Tag) Split(string reference)
    {
        var colon = reference.LastIndexOf(':');
        return colon > reference.LastIndexOf('/') ? (reference[..colon], reference[(colon + 1)..]) : (reference, "latest");
    }

    private static void Collect(JSONMessage message, List<string> errors, Action<string> log)
    {
        // The daemon reports build and import failures inside the stream, not as an HTTP error.
        var error = message.Error?.Message ?? message.ErrorMessage;
        if (!string.IsNullOrEmpty(error)) errors.Add(error.TrimEnd());
        var text = (message.Stream ?? message.Status)?.TrimEnd();
        // The classic builder's bookkeeping (" ---> id", intermediate containers) says nothing to a researcher.
        if (string.IsNullOrWhiteSpace(text) || text.StartsWith(" --->", StringComparison.Ordinal)
            || text.StartsWith("Removing intermediate container", StringComparison.Ordinal)) return;
        log("  " + text);
    }

    private static async Task<string> RequireAsync(IDockerClient docker, string reference, string what, List<string> errors, CancellationToken cancellationToken)
    {
        if (errors.Count > 0) throw new ImageBuildException($"docker {what} of {reference} failed: {string.Join("; ", errors)}");
        var image = await InspectOrNullAsync(docker, reference, cancellationToken)
            ?? throw new ImageBuildException($"docker {what} reported success but {reference} does not exist");
        return image.ID;
    }

    /// <summary>Runs the callback synchronously: <see cref="Progress{T}"/> would post to the thread pool and could reorder or lose the last error.</summary>
    private sealed class Progress(Action<JSONMessage> onReport) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => onReport(value);
    }
}
