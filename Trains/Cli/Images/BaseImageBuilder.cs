using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace HealthTrain.Cli.Images;

/// <summary>
/// Builds, once, the two images every train sits on: <c>healthtrain/trixie-base</c>, a minimal
/// Debian 13 rootfs unpacked from .debs and imported, and <c>healthtrain/dotnet-runtime</c>, that
/// base plus the self-contained .NET runtime in /app. Tags are content hashes, so an existing tag
/// means there is nothing to do; a warm call touches neither the network nor the build tools.
/// </summary>
public sealed class BaseImageBuilder(IDockerClient docker, BaseImageOptions options, IProgress<string>? progress = null)
{
    /// <summary>Bump when the rootfs layout or the generated Dockerfiles change: it is part of both hashes.</summary>
    public const int BuilderVersion = 1;

    /// <summary>The non-root user and group (<c>train</c>) that the images define and every train runs as.</summary>
    public const int TrainUserId = 65532;

    public const string BaseRepository = "healthtrain/trixie-base";
    public const string RuntimeRepository = "healthtrain/dotnet-runtime";
    public const string TorchRepository = "healthtrain/torch-runtime";

    /// <summary>The torch seed's assembly: kept in the torch image as a smoke test (<c>/app/TorchSeed</c> prints 4), never shared with trains.</summary>
    public const string TorchSeedAssemblyName = "TorchSeed";

    /// <summary>The seed's own outputs, which are not part of the runtime.</summary>
    private const string SeedAssemblyName = "RuntimeSeed";

    /// <summary>Where recipes and the cache are.</summary>
    public BaseImageOptions Options => options;

    private string AptDirectory => Path.Combine(options.CacheDirectory, "apt");
    private string RuntimeCacheDirectory => Path.Combine(options.CacheDirectory, "runtime");
    private string SeedProject => Path.Combine(options.BaseImagesDirectory, "runtime-seed", SeedAssemblyName + ".csproj");
    private string TorchSeedProject => Path.Combine(options.BaseImagesDirectory, "torch-seed", TorchSeedAssemblyName + ".csproj");

    /// <summary>Ensures both images exist and returns them; builds only what is missing.</summary>
    public async Task<BaseImages> BuildAsync(CancellationToken cancellationToken = default)
    {
        using var _ = await CacheLock.AcquireAsync(BuildLockPath, Log, cancellationToken);
        var image = await EnsureRecipeImageAsync(BaseRecipe.FileName, BaseRepository, cancellationToken);
        var (runtimeReference, runtimeFiles, runtimeSteps) = await EnsureRuntimeAsync(image.Reference, cancellationToken);
        return new BaseImages(image.Reference, runtimeReference, image.Packages, runtimeFiles, image.Performed | runtimeSteps);
    }

    /// <summary>
    /// Ensures an image made only from the .debs of another recipe in the base-images directory exists, e.g.
    /// <c>skopeo.packages</c> as <c>healthtrain/skopeo</c>: the same rootfs as the trixie base (train user,
    /// usr-merge, sticky /tmp), no .NET runtime, tagged with the recipe's content hash. Builds it only when missing.
    /// </summary>
    /// <param name="recipeFileName">File name of the recipe inside <see cref="BaseImageOptions.BaseImagesDirectory"/>.</param>
    /// <param name="repository">Repository of the image, e.g. <c>healthtrain/skopeo</c>; the tag is the hash.</param>
    /// <param name="cancellationToken">Cancels the build.</param>
    public async Task<RecipeImage> BuildRecipeImageAsync(string recipeFileName, string repository, CancellationToken cancellationToken = default)
    {
        if (Path.GetFileName(recipeFileName) != recipeFileName || !recipeFileName.EndsWith(".packages", StringComparison.Ordinal))
            throw new ArgumentException($"'{recipeFileName}' must be the file name of a *.packages recipe in {options.BaseImagesDirectory}", nameof(recipeFileName));
        // The same lock as the base build: all recipes share one apt state and .deb cache.
        using var _ = await CacheLock.AcquireAsync(BuildLockPath, Log, cancellationToken);
        return await EnsureRecipeImageAsync(recipeFileName, repository, cancellationToken);
    }

    /// <summary>The base image's content hash: recipe text, exact package versions and checksums, builder version.</summary>
    public static string ComputeBaseHash(BaseRecipe recipe, IReadOnlyList<ResolvedPackage> packages) =>
        ComputeRecipeHash(BaseRepository, recipe, packages);

    /// <summary>
    /// The content hash of the image <paramref name="repository"/> built from <paramref name="recipe"/>: repository,
    /// builder version, recipe text, exact package versions and checksums. For the trixie base it is <see cref="ComputeBaseHash"/>.
    /// </summary>
    public static string ComputeRecipeHash(string repository, BaseRecipe recipe, IReadOnlyList<ResolvedPackage> packages)
    {
        var text = new StringBuilder($"{repository.Replace('/', '-')} {BuilderVersion}\n").Append(recipe.Text).Append("\n--\n");
        foreach (var p in packages) text.Append($"{p.Name} {p.Version} {p.Architecture} {p.Sha256}\n");
        return Hashing.Sha256Hex(text.ToString());
    }

    /// <summary>The runtime image's content hash: the base's hash plus the runtime files' hashes.</summary>
    public static string ComputeRuntimeHash(string baseReference, RuntimeFileList runtimeFiles) =>
        Hashing.Sha256Hex($"healthtrain-dotnet-runtime {BuilderVersion}\n{baseReference}\n{runtimeFiles.Text}");

    /// <summary>Tags carry the first 16 hex digits (64 bits) of a hash: readable, and collisions are not a practical concern.</summary>
    private static string Reference(string repository, string hash) => $"{repository}:{hash[..16]}";

    private string BuildLockPath => Path.Combine(options.CacheDirectory, "locks", "base-images.lock");

    /// <summary>Resolves, downloads and imports one recipe's image unless its content-hash tag exists. Call with the build lock held.</summary>
    private async Task<RecipeImage> EnsureRecipeImageAsync(string recipeFileName, string repository, CancellationToken cancellationToken)
    {
        var steps = BaseBuildSteps.None;
        var recipe = BaseRecipe.Load(Path.Combine(options.BaseImagesDirectory, recipeFileName));
        // Each recipe keeps its own resolution cache, so building one never invalidates another's.
        var resolvedFile = recipeFileName == BaseRecipe.FileName
            ? AptPackageSource.DefaultResolvedFileName
            : "resolved-" + Path.GetFileNameWithoutExtension(recipeFileName) + ".json";
        var apt = new AptPackageSource(AptDirectory, Log, resolvedFile);

        var resolution = await apt.ResolveAsync(recipe, options.Refresh, cancellationToken);
        if (resolution.Updated) steps |= BaseBuildSteps.AptUpdate;
        var reference = Reference(repository, ComputeRecipeHash(repository, recipe, resolution.Packages));
        if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is null)
        {
            IReadOnlyList<string> debs;
            try
            {
                debs = await apt.DownloadAsync(resolution.Packages, cancellationToken);
            }
            catch (ImageBuildException e) when (!resolution.Updated)
            {
                // Cached versions can vanish from the archive after a point release: resolve afresh once.
                Log($"cached package versions are not downloadable, refreshing the package index: {e.Message.ReplaceLineEndings(" ")}");
                resolution = await apt.ResolveAsync(recipe, refresh: true, cancellationToken);
                steps |= BaseBuildSteps.AptUpdate;
                reference = Reference(repository, ComputeRecipeHash(repository, recipe, resolution.Packages));
                debs = await apt.DownloadAsync(resolution.Packages, cancellationToken);
            }
            if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is null)
            {
                await BuildRootfsImageAsync(reference, repository, recipe, resolution.Packages, debs, cancellationToken);
                steps |= BaseBuildSteps.BaseImage;
            }
        }
        else Log($"{reference} exists");
        return new RecipeImage(reference, resolution.Packages, steps);
    }

    private async Task BuildRootfsImageAsync(string reference, string repository, BaseRecipe recipe, IReadOnlyList<ResolvedPackage> packages, IReadOnlyList<string> debs, CancellationToken cancellationToken)
    {
        var work = Path.Combine(options.CacheDirectory, "work", repository.Replace('/', '-') + "-" + Guid.NewGuid().ToString("N")[..8]);
        var rootfs = Path.Combine(work, "rootfs");
        try
        {
            await new RootfsBuilder(Log).BuildAsync(rootfs, recipe, packages, debs, cancellationToken);
            var tarPath = Path.Combine(work, "rootfs.tar");
            await using (var file = File.Create(tarPath))
            using (var tar = new TarBuilder(file))
                tar.AddTree(rootfs);
            Log($"importing {reference} ({new FileInfo(tarPath).Length / 1024 / 1024.0:0.0} MiB rootfs tar)");
            await using var stream = File.OpenRead(tarPath);
            await DockerImages.ImportAsync(docker, stream, reference,
            [
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                $"LABEL org.opencontainers.image.title={repository} org.healthtrain.packages=\"{string.Join(' ', packages.Select(p => p.Name + "=" + p.Version))}\"",
            ], Log, cancellationToken);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private async Task<(string Reference, RuntimeFileList Files, BaseBuildSteps Steps)> EnsureRuntimeAsync(string baseReference, CancellationToken cancellationToken)
    {
        var steps = BaseBuildSteps.None;
        if (!File.Exists(SeedProject)) throw new ImageBuildException($"runtime seed project not found: {SeedProject}");
        var listPath = Path.Combine(RuntimeCacheDirectory, $"seed-{await SeedKeyAsync(cancellationToken)}.files");
        var publish = Path.Combine(options.CacheDirectory, "work", "runtime-seed-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            RuntimeFileList files;
            if (File.Exists(listPath)) files = RuntimeFileList.Parse(await File.ReadAllTextAsync(listPath, cancellationToken));
            else
            {
                files = await PublishSeedAsync(publish, listPath, cancellationToken);
                steps |= BaseBuildSteps.SeedPublish;
            }
            var reference = Reference(RuntimeRepository, ComputeRuntimeHash(baseReference, files));
            if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is not null)
            {
                Log($"{reference} exists");
                return (reference, files, steps);
            }
            if (!Directory.Exists(publish))
            {
                // The list came from the cache but the image is gone: publish again, and trust what comes out.
                files = await PublishSeedAsync(publish, listPath, cancellationToken);
                steps |= BaseBuildSteps.SeedPublish;
                reference = Reference(RuntimeRepository, ComputeRuntimeHash(baseReference, files));
            }
            if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is null)
            {
                await BuildRuntimeAsync(reference, baseReference, publish, files, cancellationToken);
                steps |= BaseBuildSteps.RuntimeImage;
            }
            return (reference, files, steps);
        }
        finally
        {
            if (Directory.Exists(publish)) Directory.Delete(publish, recursive: true);
        }
    }

    /// <summary>
    /// Identifies the seed's publish output without publishing: the SDK version, the seed's sources
    /// and the MSBuild/NuGet files that can change its build (Directory.*.props, global.json, NuGet.config).
    /// </summary>
    private Task<string> SeedKeyAsync(CancellationToken cancellationToken) => SeedKeyAsync(SeedProject, cancellationToken);

    private static async Task<string> SeedKeyAsync(string seedProject, CancellationToken cancellationToken)
    {
        var seedDirectory = Path.GetDirectoryName(seedProject)!;
        var text = new StringBuilder($"seed {BuilderVersion}\nsdk {await SelfContainedPublish.SdkVersionAsync(seedDirectory, cancellationToken)}\n");
        foreach (var (relative, full) in RuntimeFileList.EnumerateFiles(seedDirectory)
                     .Where(f => !f.Relative.StartsWith("bin/", StringComparison.Ordinal) && !f.Relative.StartsWith("obj/", StringComparison.Ordinal)))
            text.Append($"{relative} {Hashing.Sha256HexOfFile(full)}\n");
        string[] buildFiles = ["Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "NuGet.config", "nuget.config"];
        for (var dir = new DirectoryInfo(seedDirectory).Parent; dir is not null; dir = dir.Parent)
            foreach (var name in buildFiles)
                if (File.Exists(Path.Combine(dir.FullName, name)))
                    text.Append($"{Path.Combine(dir.FullName, name)} {Hashing.Sha256HexOfFile(Path.Combine(dir.FullName, name))}\n");
        return Hashing.Sha256Hex(text.ToString())[..16];
    }

    private async Task<RuntimeFileList> PublishSeedAsync(string publish, string listPath, CancellationToken cancellationToken)
    {
        await SelfContainedPublish.RunAsync("the runtime seed", SeedProject, publish, Log, cancellationToken);
        var files = RuntimeFileList.FromDirectory(publish, IsRuntimeFile);
        if (!files.Files.ContainsKey("libcoreclr.so"))
            throw new ImageBuildException($"the runtime seed's publish output in {publish} has no libcoreclr.so: was it published self-contained?");
        Directory.CreateDirectory(RuntimeCacheDirectory);
        await File.WriteAllTextAsync(listPath, files.Text, cancellationToken);
        return files;
    }

    private static bool IsRuntimeFile(string relativePath) =>
        !relativePath.StartsWith(SeedAssemblyName, StringComparison.Ordinal)
        && !relativePath.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase);

    private async Task BuildRuntimeAsync(string reference, string baseReference, string publish, RuntimeFileList files, CancellationToken cancellationToken)
    {
        // DOTNET_EnableDiagnostics=0: no debugger/EventPipe IPC socket, which a train neither needs nor may be able to create.
        var dockerfile = $"""
            FROM {baseReference}
            COPY app/ /app/
            ENV DOTNET_EnableDiagnostics=0 \
                DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
            USER {TrainUserId}:{TrainUserId}
            WORKDIR /tmp

            """;
        await BuildAppImageAsync("runtime", reference, dockerfile, publish, files.Files.Keys, files.Text, new Dictionary<string, string>
        {
            ["org.opencontainers.image.title"] = RuntimeRepository,
            ["org.opencontainers.image.base.name"] = baseReference,
            ["org.healthtrain.runtime-files.sha256"] = files.Sha256,
        }, cancellationToken);
    }

    /// <summary>
    /// Ensures <c>healthtrain/torch-runtime</c> exists on top of <paramref name="bases"/>' runtime image and returns it:
    /// one layer holding TorchSharp, its managed dependencies and the libtorch CPU natives (the torch seed's publish
    /// output less the .NET runtime), tagged with a hash of the runtime image and those files. Training trains that
    /// reference TorchSharp build FROM it, so each keeps only its own few files in its layer.
    /// </summary>
    public async Task<TorchRuntime> BuildTorchAsync(BaseImages bases, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bases);
        using var _ = await CacheLock.AcquireAsync(BuildLockPath, Log, cancellationToken);
        if (!File.Exists(TorchSeedProject)) throw new ImageBuildException($"torch seed project not found: {TorchSeedProject}");
        var steps = BaseBuildSteps.None;
        var listPath = Path.Combine(RuntimeCacheDirectory, $"torch-seed-{await SeedKeyAsync(TorchSeedProject, cancellationToken)}.files");
        var publish = Path.Combine(options.CacheDirectory, "work", "torch-seed-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            RuntimeFileList torchFiles;
            if (File.Exists(listPath)) torchFiles = RuntimeFileList.Parse(await File.ReadAllTextAsync(listPath, cancellationToken));
            else
            {
                torchFiles = await PublishTorchSeedAsync(publish, listPath, bases.RuntimeFiles, cancellationToken);
                steps |= BaseBuildSteps.SeedPublish;
            }
            var reference = Reference(TorchRepository, ComputeTorchHash(bases.RuntimeReference, torchFiles));
            if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is null)
            {
                if (!Directory.Exists(publish))
                {
                    torchFiles = await PublishTorchSeedAsync(publish, listPath, bases.RuntimeFiles, cancellationToken);
                    steps |= BaseBuildSteps.SeedPublish;
                    reference = Reference(TorchRepository, ComputeTorchHash(bases.RuntimeReference, torchFiles));
                }
                if (await DockerImages.InspectOrNullAsync(docker, reference, cancellationToken) is null)
                {
                    await BuildTorchImageAsync(reference, bases, publish, torchFiles, cancellationToken);
                    steps |= BaseBuildSteps.TorchImage;
                }
            }
            else Log($"{reference} exists");
            return new TorchRuntime(reference, bases.RuntimeReference, torchFiles, RuntimeFileList.Union(bases.RuntimeFiles, torchFiles), steps);
        }
        finally
        {
            if (Directory.Exists(publish)) Directory.Delete(publish, recursive: true);
        }
    }

    /// <summary>The torch image's content hash: the runtime image it sits on plus the torch files' hashes.</summary>
    public static string ComputeTorchHash(string runtimeReference, RuntimeFileList torchFiles) =>
        Hashing.Sha256Hex($"healthtrain-torch-runtime {BuilderVersion}\n{runtimeReference}\n{torchFiles.Text}");

    private async Task<RuntimeFileList> PublishTorchSeedAsync(string publish, string listPath, RuntimeFileList runtimeFiles, CancellationToken cancellationToken)
    {
        await SelfContainedPublish.RunAsync("the torch seed", TorchSeedProject, publish, Log, cancellationToken);
        // What the .NET runtime layer already holds byte for byte stays out of the torch layer.
        var files = RuntimeFileList.FromDirectory(publish, relative =>
            !relative.StartsWith(TorchSeedAssemblyName, StringComparison.Ordinal)
            && !relative.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase)
            && !runtimeFiles.Contains(relative, Hashing.Sha256HexOfFile(Path.Combine(publish, relative))));
        if (!files.Files.ContainsKey("libtorch_cpu.so") || !files.Files.ContainsKey("TorchSharp.dll"))
            throw new ImageBuildException($"the torch seed's publish output in {publish} lacks libtorch_cpu.so or TorchSharp.dll: is libtorch-cpu-linux-x64 referenced and published for linux-x64?");
        Directory.CreateDirectory(RuntimeCacheDirectory);
        await File.WriteAllTextAsync(listPath, files.Text, cancellationToken);
        return files;
    }

    private async Task BuildTorchImageAsync(string reference, BaseImages bases, string publish, RuntimeFileList torchFiles, CancellationToken cancellationToken)
    {
        var dockerfile = $"""
            FROM {bases.RuntimeReference}
            COPY app/ /app/
            USER {TrainUserId}:{TrainUserId}
            WORKDIR /tmp

            """;
        var smokeTest = Directory.GetFiles(publish, TorchSeedAssemblyName + "*")
            .Select(Path.GetFileName).Where(n => !n!.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase)).Select(n => n!);
        // The list a train's delta is taken against: the runtime's files and the torch files.
        await BuildAppImageAsync("torch", reference, dockerfile, publish, torchFiles.Files.Keys.Concat(smokeTest),
            RuntimeFileList.Union(bases.RuntimeFiles, torchFiles).Text, new Dictionary<string, string>
            {
                ["org.opencontainers.image.title"] = TorchRepository,
                ["org.opencontainers.image.base.name"] = bases.RuntimeReference,
                ["org.healthtrain.torch-files.sha256"] = torchFiles.Sha256,
            }, cancellationToken);
    }

    /// <summary>
    /// Builds <paramref name="reference"/> from <paramref name="dockerfile"/> with <paramref name="files"/> of
    /// <paramref name="publish"/> under <c>app/</c> and the file list a train's delta is taken against, without network.
    /// </summary>
    private async Task BuildAppImageAsync(string kind, string reference, string dockerfile, string publish, IEnumerable<string> files, string fileListText,
        Dictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var contextPath = Path.Combine(options.CacheDirectory, "work", $"{kind}-context-{Guid.NewGuid():N}.tar");
        Directory.CreateDirectory(Path.GetDirectoryName(contextPath)!);
        try
        {
            await using (var file = File.Create(contextPath))
            using (var tar = new TarBuilder(file))
            {
                tar.AddText("Dockerfile", dockerfile);
                tar.AddAppFiles("app", publish, files);
                tar.AddText("app/" + Path.GetFileName(RuntimeFileList.ImagePath), fileListText);
                Log($"building {reference}: {tar.FileCount} files, {tar.FileBytes / 1024 / 1024.0:0.0} MiB");
            }
            await using var context = File.OpenRead(contextPath);
            await DockerImages.BuildAsync(docker, context, new ImageBuildParameters
            {
                Tags = [reference],
                Dockerfile = "Dockerfile",
                Remove = true,
                ForceRemove = true,
                NetworkMode = "none",
                Labels = labels,
            }, Log, cancellationToken);
        }
        finally
        {
            File.Delete(contextPath);
        }
    }

    private void Log(string message) => progress?.Report(message);
}

/// <summary>The torch runtime image (see <see cref="BaseImageBuilder.BuildTorchAsync"/>).</summary>
/// <param name="Reference"><c>healthtrain/torch-runtime:&lt;hash&gt;</c>, the image training trains build FROM.</param>
/// <param name="RuntimeReference">The <c>healthtrain/dotnet-runtime</c> image it sits on.</param>
/// <param name="TorchFiles">The files of its own layer (TorchSharp and libtorch), without the smoke test.</param>
/// <param name="AllFiles">The runtime's files and the torch files: what a train's delta is taken against.</param>
/// <param name="Performed">The work this call did.</param>
public sealed record TorchRuntime(string Reference, string RuntimeReference, RuntimeFileList TorchFiles, RuntimeFileList AllFiles, BaseBuildSteps Performed);

/// <summary>An image built from one recipe's .debs alone (see <see cref="BaseImageBuilder.BuildRecipeImageAsync"/>).</summary>
/// <param name="Reference"><c>REPOSITORY:&lt;hash&gt;</c>.</param>
/// <param name="Packages">The exact Debian packages in it.</param>
/// <param name="Performed">The work this call did: <see cref="BaseBuildSteps.AptUpdate"/> and/or <see cref="BaseBuildSteps.BaseImage"/> (the image was imported), or none.</param>
public sealed record RecipeImage(string Reference, IReadOnlyList<ResolvedPackage> Packages, BaseBuildSteps Performed);
