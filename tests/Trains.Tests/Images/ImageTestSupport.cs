using System.Formats.Tar;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>Paths of the checkout the tests run from, and the real Docker daemon.</summary>
internal static class ImageTestEnvironment
{
    public static string RepositoryRoot { get; } = FindRoot();
    public static string MisbehavingTrain => Path.Combine(RepositoryRoot, "tests", "Fixtures", "misbehaving-train");

    public static IDockerClient CreateDocker() =>
        new DockerClientConfiguration(new Uri("unix:///var/run/docker.sock")).CreateClient();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no HealthTrain.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>One entry of a tar copied out of an image.</summary>
internal sealed record ImageEntry(string Name, TarEntryType Type, UnixFileMode Mode, int Uid, int Gid, byte[] Content, string? LinkName)
{
    public string Text => Encoding.UTF8.GetString(Content);
}

/// <summary>Looks inside images the way a reviewer would: copy paths out of a never-started container, list a layer from <c>docker save</c>.</summary>
internal static class ImageInspection
{
    /// <summary>The entries of <paramref name="path"/> in <paramref name="image"/> (the path itself first, then its contents for a directory).</summary>
    public static async Task<List<ImageEntry>> CopyOutAsync(IDockerClient docker, string image, string path)
    {
        var container = await docker.Containers.CreateContainerAsync(new CreateContainerParameters { Image = image, Entrypoint = ["/nonexistent"] });
        try
        {
            var archive = await docker.Containers.GetArchiveFromContainerAsync(container.ID, new GetArchiveFromContainerParameters { Path = path }, statOnly: false);
            await using var stream = archive.Stream;
            var entries = new List<ImageEntry>();
            var reader = new TarReader(stream);
            while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
            {
                var content = new MemoryStream();
                if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(content);
                entries.Add(new ImageEntry(entry.Name, entry.EntryType, entry.Mode, entry.Uid, entry.Gid, content.ToArray(),
                    string.IsNullOrEmpty(entry.LinkName) ? null : entry.LinkName));
            }
            return entries;
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    /// <summary>The file names in the image's topmost layer, read from <c>docker save</c>.</summary>
    public static async Task<List<string>> TopLayerFilesAsync(IDockerClient docker, string image)
    {
        var layers = new Dictionary<string, List<string>>();
        string? manifest = null;
        // Spooled to a file first: TarReader reading Docker.DotNet's chunked response directly hit an EndOfStreamException near its end.
        await using var saved = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
        await using (var response = await docker.Images.SaveImageAsync(image, CancellationToken.None))
            await response.CopyToAsync(saved);
        saved.Position = 0;
        var reader = new TarReader(saved);
        while (await reader.GetNextEntryAsync() is { } entry)
        {
            if (entry.Name.EndsWith("/layer.tar", StringComparison.Ordinal) && entry.DataStream is not null)
            {
                var names = new List<string>();
                var layer = new TarReader(entry.DataStream);
                while (await layer.GetNextEntryAsync() is { } file)
                    if (file.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile) names.Add(file.Name);
                layers[entry.Name] = names;
            }
            else if (entry.Name == "manifest.json" && entry.DataStream is not null)
                manifest = await new StreamReader(entry.DataStream).ReadToEndAsync();
        }
        Assert.NotNull(manifest);
        using var document = JsonDocument.Parse(manifest);
        var top = document.RootElement[0].GetProperty("Layers").EnumerateArray().Last().GetString()!;
        return layers[top];
    }
}

/// <summary>A station-like run of a train image: bind-mounted /input (read-only) and /output, no network.</summary>
internal sealed class TrainRun : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("healthtrain-run-").FullName;

    public TrainRun(string parametersJson, IReadOnlyList<string> patients)
    {
        Directory.CreateDirectory(Path.Combine(InputDirectory, "fhir"));
        Directory.CreateDirectory(OutputDirectory);
        File.WriteAllText(Path.Combine(InputDirectory, "parameters.json"), parametersJson);
        File.WriteAllLines(Path.Combine(InputDirectory, "fhir", "Patient.ndjson"), patients);
        // The train runs as uid 65532: it must read /input and write /output but owns neither.
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(InputDirectory, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Path.Combine(InputDirectory, "fhir"), (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(OutputDirectory, (UnixFileMode)0b111_111_111);
    }

    public string InputDirectory => Path.Combine(root, "input");
    public string OutputDirectory => Path.Combine(root, "output");

    /// <summary>Runs <paramref name="image"/> to completion (or kills it after <paramref name="timeout"/>); returns exit code and logs.</summary>
    public async Task<(long ExitCode, string Stdout, string Stderr, bool TimedOut)> RunAsync(IDockerClient docker, string image, TimeSpan timeout)
    {
        var container = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            NetworkDisabled = true,
            HostConfig = new HostConfig
            {
                NetworkMode = "none",
                ReadonlyRootfs = true,
                Binds = [$"{InputDirectory}:/input:ro", $"{OutputDirectory}:/output"],
            },
        });
        try
        {
            await docker.Containers.StartContainerAsync(container.ID, new ContainerStartParameters());
            var wait = docker.Containers.WaitContainerAsync(container.ID);
            var timedOut = await Task.WhenAny(wait, Task.Delay(timeout)) != wait;
            if (timedOut) await docker.Containers.KillContainerAsync(container.ID, new ContainerKillParameters());
            var exit = (await wait).StatusCode;
            using var logs = await docker.Containers.GetContainerLogsAsync(container.ID, tty: false,
                new ContainerLogsParameters { ShowStdout = true, ShowStderr = true });
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(CancellationToken.None);
            return (exit, stdout, stderr, timedOut);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
