using Docker.DotNet;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Images;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain base build</c> and <c>healthtrain train build|push|list</c>.</summary>
public static class ImageCommands
{
    public static DockerClient Docker() =>
        new DockerClientConfiguration(new Uri(Environment.GetEnvironmentVariable("DOCKER_HOST") ?? "unix:///var/run/docker.sock")).CreateClient();

    public static BaseImageBuilder BaseBuilder(IDockerClient docker, TextWriter output, bool refresh = false) =>
        new(docker, BaseImageOptions.ForRepository(RepoPaths.Root) with { Refresh = refresh }, new ImmediateProgress<string>(output.WriteLine));

    public static async Task<int> BaseAsync(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a base command: build");
        if (verb != "build") throw new UsageException($"unknown command 'base {verb}'; try: base build");
        var refresh = args.Flag("refresh");
        args.RejectUnknown();
        using var docker = Docker();
        var images = await BaseBuilder(docker, output, refresh).BuildAsync();
        output.WriteLine(images.Built ? "built:" : "up to date:");
        output.WriteLine($"  {images.BaseReference}  ({images.Packages.Count} Debian packages)");
        output.WriteLine($"  {images.RuntimeReference}");
        return 0;
    }

    public static async Task<int> TrainAsync(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a train command: build|push|list");
        switch (verb)
        {
            case "build":
            {
                var dir = Path.GetFullPath(args.Required(1, "the train's folder (train.json and a .csproj)"));
                var tag = args.Option("tag");
                args.RejectUnknown();
                using var docker = Docker();
                var builder = new TrainImageBuilder(docker, BaseBuilder(docker, output), new ImmediateProgress<string>(output.WriteLine));
                var image = await builder.BuildAsync(dir, new TrainImageOptions { Reference = tag });
                output.WriteLine($"built {image.Reference} ({image.ImageId[..19]}…), train layer {image.LayerBytes / 1024.0:0.#} KiB");
                return 0;
            }
            case "push":
            {
                var target = args.Required(1, "a built image (e.g. healthtrain/cohort-stats:1.0.0) or a train folder");
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                using var docker = Docker();
                if (Directory.Exists(target))
                {
                    var builder = new TrainImageBuilder(docker, BaseBuilder(docker, output), new ImmediateProgress<string>(output.WriteLine));
                    target = (await builder.BuildAsync(Path.GetFullPath(target))).Reference;
                }
                var train = await new TrainPublisher(docker, hub).PushAsync(target, output.WriteLine);
                output.WriteLine($"train {train.Id}: {train.Repository}:{train.Version} submitted as {train.Digest}");
                return 0;
            }
            case "list":
            {
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                foreach (var t in await hub.ListTrainsAsync())
                    output.WriteLine($"{t.Id,5}  {t.Repository + ":" + t.Version,-36} {t.Kind,-10} {t.Digest[..19]}…  {t.SubmittedAt:yyyy-MM-dd HH:mm}");
                return 0;
            }
            default:
                throw new UsageException($"unknown command 'train {verb}'; try: train build|push|list");
        }
    }
}
