using System.Collections.Concurrent;
using System.Diagnostics;
using System.Formats.Tar;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol.Signing;
using HealthTrain.Trains.Tests.Images;

namespace HealthTrain.Trains.Tests.Signing;

/// <summary>
/// A real CNCF distribution registry on loopback (<c>docker-registry serve</c>, temporary storage) and the
/// <c>healthtrain/skopeo</c> image (skopeo 1.18 from trixie, built from Trains/BaseImages/skopeo.packages),
/// to push small images, sign them with the library and let containers/image judge the signatures.
/// </summary>
public sealed class SkopeoFixture : IAsyncLifetime
{
    public const string SkopeoRecipe = "skopeo.packages";
    public const string SkopeoRepository = "healthtrain/skopeo";

    private readonly string root = Directory.CreateTempSubdirectory("healthtrain-signing-registry-").FullName;
    private readonly List<string> localImages = [];
    private ChildProcess? registryProcess;

    public IDockerClient Docker { get; } = ImageTestEnvironment.CreateDocker();
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>The skopeo image and how long ensuring it took (a build when the tag was missing, else a lookup).</summary>
    public RecipeImage Skopeo { get; private set; } = null!;
    public TimeSpan SkopeoBuildTime { get; private set; }

    /// <summary><c>127.0.0.1:PORT</c> of the test registry.</summary>
    public string RegistryHost { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public SignatureRegistry Registry { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new BaseImageBuilder(Docker, BaseImageOptions.ForRepository(ImageTestEnvironment.RepositoryRoot), new QueueProgress(Log));
        var watch = Stopwatch.StartNew();
        Skopeo = await builder.BuildRecipeImageAsync(SkopeoRecipe, SkopeoRepository);
        SkopeoBuildTime = watch.Elapsed;

        var port = ChildProcess.FreePort();
        var config = Path.Combine(root, "registry.yml");
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: {Path.Combine(root, "storage")}
            http:
              addr: 127.0.0.1:{port}
              secret: {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}
            """);
        RegistryHost = $"127.0.0.1:{port}";
        Http = new HttpClient { BaseAddress = new Uri($"http://{RegistryHost}/"), Timeout = TimeSpan.FromSeconds(30) };
        registryProcess = ChildProcess.Start("registry", "/usr/bin/docker-registry", ["serve", config], Path.Combine(root, "registry.log"));
        await registryProcess.WaitUntilAsync(async c => (await Http.GetAsync("/v2/", c)).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), CancellationToken.None);
        Registry = new SignatureRegistry(Http);
    }

    /// <summary>
    /// Imports a one-file image (distinct per <paramref name="content"/>) as <c>REGISTRY/REPOSITORY:TAG</c>, pushes it
    /// with the Docker daemon and returns its manifest digest as the registry reports it.
    /// </summary>
    public async Task<string> PushTinyImageAsync(string repository, string tag, string content)
    {
        var reference = $"{RegistryHost}/{repository}";
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "hello.txt")
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content + "\n")),
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                ModificationTime = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero),
            };
            writer.WriteEntry(entry);
        }
        tar.Position = 0;
        var errors = new List<string>();
        var progress = new MessageProgress(m => { if ((m.Error?.Message ?? m.ErrorMessage) is { Length: > 0 } e) errors.Add(e); });
        await Docker.Images.CreateImageAsync(new ImagesCreateParameters { FromSrc = "-", Repo = reference, Tag = tag }, tar, null, progress);
        localImages.Add($"{reference}:{tag}");
        await Docker.Images.PushImageAsync(reference, new ImagePushParameters { Tag = tag }, new AuthConfig(), progress);
        Assert.True(errors.Count == 0, $"pushing {reference}:{tag} failed: {string.Join("; ", errors)}");
        return await Registry.ResolveDigestAsync(repository, tag);
    }

    /// <summary>The outcome of one skopeo run and how long the container took from create to exit.</summary>
    public sealed record SkopeoRun(long ExitCode, string Output, TimeSpan Elapsed)
    {
        public bool Accepted => ExitCode == 0;
    }

    /// <summary>
    /// Runs <c>skopeo copy docker://REGISTRY/REPO:TAG dir:/tmp/image</c> in the skopeo image with a policy that lists
    /// one <c>sigstoreSigned</c> requirement (matchRepository) per entry of <paramref name="requirements"/>, each
    /// trusting the keys in that entry; registries.d enables sigstore attachments for the test registry. The
    /// container shares the host's network only to reach the registry on loopback; everything else is read-only.
    /// </summary>
    public async Task<SkopeoRun> CopyWithPolicyAsync(string repository, string tag, params VerificationKey[][] requirements)
    {
        var policyDir = Directory.CreateTempSubdirectory("healthtrain-skopeo-policy-").FullName;
        try
        {
            var rules = new List<object>();
            for (var i = 0; i < requirements.Length; i++)
            {
                var paths = new List<string>();
                foreach (var key in requirements[i])
                {
                    var name = $"key-{i}-{key.KeyId[..12]}.pub";
                    key.Save(Path.Combine(policyDir, name));
                    paths.Add("/policy/" + name);
                }
                rules.Add(paths.Count == 1
                    ? new { type = "sigstoreSigned", keyPath = paths[0], signedIdentity = new { type = "matchRepository" } }
                    : new { type = "sigstoreSigned", keyPaths = paths, signedIdentity = new { type = "matchRepository" } });
            }
            var policy = new Dictionary<string, object>
            {
                ["default"] = new[] { new { type = "reject" } },
                ["transports"] = new Dictionary<string, object> { ["docker"] = new Dictionary<string, object> { [RegistryHost] = rules } },
            };
            File.WriteAllText(Path.Combine(policyDir, "policy.json"), JsonSerializer.Serialize(policy, new JsonSerializerOptions { WriteIndented = true }));
            var registriesD = Directory.CreateDirectory(Path.Combine(policyDir, "registries.d")).FullName;
            File.WriteAllText(Path.Combine(registriesD, "healthtrain.yaml"), $"docker:\n  {RegistryHost}:\n    use-sigstore-attachments: true\n");
            // The container runs as the unprivileged train user: make the policy world-readable.
            foreach (var path in Directory.EnumerateFileSystemEntries(policyDir, "*", SearchOption.AllDirectories).Append(policyDir))
                File.SetUnixFileMode(path, Directory.Exists(path) ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100);

            return await RunSkopeoAsync(policyDir,
            [
                "--policy", "/policy/policy.json", "--registries.d", "/policy/registries.d",
                "copy", "--src-tls-verify=false", $"docker://{RegistryHost}/{repository}:{tag}", "dir:/tmp/image",
            ]);
        }
        finally
        {
            Directory.Delete(policyDir, recursive: true);
        }
    }

    /// <summary>Runs skopeo with <paramref name="arguments"/>; <paramref name="policyDir"/> (if any) is mounted read-only at /policy.</summary>
    public async Task<SkopeoRun> RunSkopeoAsync(string? policyDir, IList<string> arguments)
    {
        var watch = Stopwatch.StartNew();
        var container = await Docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = Skopeo.Reference,
            Entrypoint = ["/usr/bin/skopeo"],
            Cmd = arguments,
            User = $"{BaseImageBuilder.TrainUserId}:{BaseImageBuilder.TrainUserId}",
            Env = ["HOME=/tmp"],
            HostConfig = new HostConfig
            {
                NetworkMode = "host", // the verifier only: it must reach the registry on 127.0.0.1
                ReadonlyRootfs = true,
                Tmpfs = new Dictionary<string, string> { ["/tmp"] = "mode=1777", ["/var/tmp"] = "mode=1777" },
                Binds = policyDir is null ? null : [$"{policyDir}:/policy:ro"],
            },
        });
        try
        {
            await Docker.Containers.StartContainerAsync(container.ID, new ContainerStartParameters());
            var wait = Docker.Containers.WaitContainerAsync(container.ID);
            if (await Task.WhenAny(wait, Task.Delay(TimeSpan.FromMinutes(2))) != wait)
                await Docker.Containers.KillContainerAsync(container.ID, new ContainerKillParameters());
            var exit = (await wait).StatusCode;
            watch.Stop();
            using var logs = await Docker.Containers.GetContainerLogsAsync(container.ID, tty: false,
                new ContainerLogsParameters { ShowStdout = true, ShowStderr = true });
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(CancellationToken.None);
            return new SkopeoRun(exit, (stdout + stderr).Trim(), watch.Elapsed);
        }
        finally
        {
            await Docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var image in localImages)
        {
            try { await Docker.Images.DeleteImageAsync(image, new ImageDeleteParameters { Force = true }); }
            catch (DockerApiException) { /* already gone */ }
        }
        if (registryProcess is not null) await registryProcess.DisposeAsync();
        Http?.Dispose();
        Docker.Dispose();
        try { Directory.Delete(root, recursive: true); } catch (IOException) { }
    }

    private sealed class QueueProgress(ConcurrentQueue<string> queue) : IProgress<string>
    {
        public void Report(string value) => queue.Enqueue(value);
    }

    private sealed class MessageProgress(Action<JSONMessage> onReport) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => onReport(value);
    }
}

[CollectionDefinition(Name)]
public sealed class SkopeoCollection : ICollectionFixture<SkopeoFixture>
{
    public const string Name = "skopeo signatures";
}
