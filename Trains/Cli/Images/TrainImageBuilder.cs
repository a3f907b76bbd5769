using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Docker.DotNet;
using Docker.DotNet.Models;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Images;

/// <summary>
/// Builds a train image from a directory holding <c>train.json</c> and one console project:
/// validate the manifest, publish self-contained, keep only the files the runtime image lacks, and
/// build FROM <c>healthtrain/dotnet-runtime</c> (or, for a train that publishes TorchSharp, <c>healthtrain/torch-runtime</c>)
/// with the manifest as the <c>org.healthtrain.manifest</c> label.
/// </summary>
public sealed class TrainImageBuilder(IDockerClient docker, BaseImageBuilder baseImages, IProgress<string>? progress = null)
{
    public const string ManifestFileName = "train.json";

    /// <summary>A publish output holding this file references TorchSharp and is built FROM <c>healthtrain/torch-runtime</c>.</summary>
    public const string TorchMarkerFile = "TorchSharp.dll";

    /// <summary>Publishes the train and builds its image as <c>healthtrain/&lt;name&gt;:&lt;version&gt;</c> (or as <paramref name="options"/> say).</summary>
    public async Task<TrainImage> BuildAsync(string trainDirectory, TrainImageOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var publish = await PublishAsync(trainDirectory, cancellationToken);
        return await BuildImageAsync(publish, options, cancellationToken);
    }

    /// <summary>
    /// Reads and validates <c>train.json</c>; on any problem throws <see cref="ProtocolValidationException"/>
    /// naming the file and listing every error with its JSON path.
    /// </summary>
    public static (TrainManifest Manifest, string CompactJson) ReadManifest(string trainDirectory)
    {
        var path = Path.Combine(Path.GetFullPath(trainDirectory), ManifestFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"a train directory needs a {ManifestFileName}; {path} does not exist", path);
        var json = IncludeNamedViews(File.ReadAllText(path), path);
        TrainManifest manifest;
        try
        {
            manifest = ManifestValidator.ParseOrThrow(json);
        }
        catch (ProtocolValidationException e)
        {
            throw new ProtocolValidationException($"train manifest {path}", e.Errors);
        }
        return (manifest, Compact(json));
    }

    /// <summary>
    /// Validates the manifest, ensures the base images, publishes the train's project into a temporary
    /// directory and works out its delta against the runtime image. Dispose the result to delete the output.
    /// </summary>
    public async Task<TrainPublish> PublishAsync(string trainDirectory, CancellationToken cancellationToken = default)
    {
        trainDirectory = Path.GetFullPath(trainDirectory);
        if (!Directory.Exists(trainDirectory)) throw new DirectoryNotFoundException($"train directory not found: {trainDirectory}");
        var (manifest, manifestJson) = ReadManifest(trainDirectory);
        var project = SingleProject(trainDirectory);
        var bases = await baseImages.BuildAsync(cancellationToken);

        var output = Directory.CreateTempSubdirectory("healthtrain-publish-").FullName;
        try
        {
            TimeSpan publishTime;
            // Two processes publishing one project would fight over its obj/ folder.
            var lockName = "publish-" + Hashing.Sha256Hex(trainDirectory)[..16] + ".lock";
            using (await CacheLock.AcquireAsync(Path.Combine(baseImages.Options.CacheDirectory, "locks", lockName), Log, cancellationToken))
                publishTime = await SelfContainedPublish.RunAsync($"train {manifest.Name}", project, output, Log, cancellationToken);

            var assemblyName = FindAssemblyName(output, project);
            // A train that publishes TorchSharp sits on the torch runtime, whose layer already holds libtorch.
            var baseReference = bases.RuntimeReference;
            var sharedFiles = bases.RuntimeFiles;
            if (File.Exists(Path.Combine(output, TorchMarkerFile)))
            {
                var torch = await baseImages.BuildTorchAsync(bases, cancellationToken);
                baseReference = torch.Reference;
                sharedFiles = torch.AllFiles;
            }
            var delta = new List<string>();
            long deltaBytes = 0, totalBytes = 0;
            var totalFiles = 0;
            foreach (var (relative, full) in RuntimeFileList.EnumerateFiles(output))
            {
                var size = new FileInfo(full).Length;
                totalFiles++;
                totalBytes += size;
                if (sharedFiles.Contains(relative, Hashing.Sha256HexOfFile(full))) continue;
                delta.Add(relative);
                deltaBytes += size;
            }
            Log($"published {manifest.Name} in {publishTime.TotalSeconds:0.0} s: {totalFiles} files, {Mib(totalBytes)}; " +
                $"own files (the train layer): {delta.Count} files, {Kib(deltaBytes)} ({100.0 * deltaBytes / Math.Max(1, totalBytes):0.00} % of the publish)");
            return new TrainPublish(trainDirectory, output, manifest, manifestJson, assemblyName, bases, baseReference, publishTime, delta, deltaBytes, totalFiles, totalBytes);
        }
        catch
        {
            Directory.Delete(output, recursive: true);
            throw;
        }
    }

    /// <summary>Builds an image from a publish output: its delta in /app on the runtime image, non-root, with the manifest label.</summary>
    public async Task<TrainImage> BuildImageAsync(TrainPublish publish, TrainImageOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TrainImageOptions();
        var manifest = publish.Manifest;
        var reference = options.Reference ?? DefaultReference(manifest);
        var runtime = publish.BaseReference;
        string[] entrypoint = [$"/app/{publish.AssemblyName}", .. options.EntrypointArguments];
        var user = options.User ?? $"{BaseImageBuilder.TrainUserId}:{BaseImageBuilder.TrainUserId}";
        // ENTRYPOINT in exec form is a JSON array, so JSON serialization is also correct Dockerfile quoting.
        var dockerfile = $"""
            FROM {runtime}
            COPY app/ /app/
            USER {user}
            WORKDIR /tmp
            ENTRYPOINT {JsonSerializer.Serialize(entrypoint)}

            """;
        // Labels go through the API rather than a LABEL line: the manifest JSON needs no Dockerfile quoting.
        var labels = new Dictionary<string, string>
        {
            ["org.opencontainers.image.title"] = manifest.Name,
            ["org.opencontainers.image.version"] = manifest.Version,
            ["org.opencontainers.image.base.name"] = runtime,
        };
        if (options.ManifestLabel.ValueFor(publish.ManifestJson) is { } label) labels[TrainManifest.LabelKey] = label;

        var contextPath = Path.Combine(Path.GetTempPath(), $"healthtrain-context-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var file = File.Create(contextPath))
            using (var tar = new TarBuilder(file))
            {
                tar.AddText("Dockerfile", dockerfile);
                tar.AddAppFiles("app", publish.OutputDirectory, publish.DeltaFiles);
            }
            Log($"building {reference} FROM {runtime} (manifest label: {options.ManifestLabel})");
            await using var context = File.OpenRead(contextPath);
            var imageId = await DockerImages.BuildAsync(docker, context, new ImageBuildParameters
            {
                Tags = [reference],
                Dockerfile = "Dockerfile",
                Labels = labels,
                Remove = true,
                ForceRemove = true,
                NetworkMode = "none",
            }, Log, cancellationToken);

            var image = await docker.Images.InspectImageAsync(imageId, cancellationToken);
            var runtimeImage = await docker.Images.InspectImageAsync(runtime, cancellationToken);
            var layerBytes = image.Size - runtimeImage.Size;
            Log($"built {reference} ({imageId[..19]}): train layer {Kib(layerBytes)} on {runtime}");
            return new TrainImage(reference, imageId, manifest, layerBytes);
        }
        finally
        {
            File.Delete(contextPath);
        }
    }

    /// <summary><c>healthtrain/&lt;name&gt;:&lt;version&gt;</c>; '+' (allowed in versions, not in tags) becomes '_'.</summary>
    public static string DefaultReference(TrainManifest manifest) =>
        $"healthtrain/{manifest.Name}:{manifest.Version.Replace('+', '_')}";

    private static string SingleProject(string trainDirectory)
    {
        var projects = Directory.GetFiles(trainDirectory, "*.csproj");
        return projects.Length switch
        {
            1 => projects[0],
            0 => throw new ImageBuildException($"{trainDirectory} holds no *.csproj; a train directory needs exactly one console project"),
            _ => throw new ImageBuildException($"{trainDirectory} holds {projects.Length} projects ({string.Join(", ", projects.Select(Path.GetFileName))}); a train directory needs exactly one"),
        };
    }

    /// <summary>The publish output's <c>X.runtimeconfig.json</c> names the app; its apphost <c>X</c> is the entrypoint.</summary>
    private static string FindAssemblyName(string output, string project)
    {
        var configs = Directory.GetFiles(output, "*.runtimeconfig.json");
        if (configs.Length != 1)
            throw new ImageBuildException($"publishing {Path.GetFileName(project)} gave {configs.Length} *.runtimeconfig.json files, expected one: is it a console app (OutputType Exe)?");
        var name = Path.GetFileName(configs[0])[..^".runtimeconfig.json".Length];
        if (!File.Exists(Path.Combine(output, name)))
            throw new ImageBuildException($"publishing {Path.GetFileName(project)} produced no native launcher '{name}': is UseAppHost disabled?");
        return name;
    }

    /// <summary>The shared views (<c>fhir-mappings/views/NAME.json</c>) that train.json may name instead of spelling out.</summary>
    public static string ViewsDirectory => Path.Combine(RepoPaths.Root, "fhir-mappings", "views");

    /// <summary>
    /// Replaces every view input given by name with the ViewDefinition from <see cref="ViewsDirectory"/>, so the image
    /// carries the exact view a station will run and stations never need this checkout.
    /// </summary>
    public static string IncludeNamedViews(string trainJson, string source)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(trainJson);
        }
        catch (JsonException)
        {
            return trainJson; // the validator reports the syntax error with its position
        }
        if (root?["inputs"] is not JsonArray inputs) return trainJson;
        var errors = new List<ValidationError>();
        for (var i = 0; i < inputs.Count; i++)
        {
            if (inputs[i] is not JsonObject input || input["kind"]?.GetValueKind() != JsonValueKind.String || (string?)input["kind"] != InputKinds.View) continue;
            if (input["view"] is not JsonValue named || named.GetValueKind() != JsonValueKind.String) continue;
            var name = (string)named!;
            var file = Path.Combine(ViewsDirectory, name + ".json");
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[A-Za-z0-9_][A-Za-z0-9_.-]*$") || !File.Exists(file))
            {
                errors.Add(new($"$.inputs[{i}].view", $"no shared view '{name}' in {ViewsDirectory}"));
                continue;
            }
            input["view"] = JsonNode.Parse(File.ReadAllText(file));
        }
        if (errors.Count > 0) throw new ProtocolValidationException($"train manifest {source}", errors);
        return root.ToJsonString();
    }

    private static string Compact(string json)
    {
        using var document = JsonDocument.Parse(json);
        using var buffer = new MemoryStream();
        // Relaxed escaping keeps non-ASCII text (author names) readable in `docker inspect`; a label is no HTML context.
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            document.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Mib(long bytes) => $"{bytes / 1024.0 / 1024.0:0.0} MiB";
    private static string Kib(long bytes) => $"{bytes / 1024.0:0.0} KiB";

    private void Log(string message) => progress?.Report(message);
}
