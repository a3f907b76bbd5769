using Docker.DotNet;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;
using Spectre.Console;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain base build</c> and <c>healthtrain train build|push|list|sign|verify</c>.</summary>
public static class ImageCommands
{
    public static DockerClient Docker() =>
        new DockerClientConfiguration(new Uri(Environment.GetEnvironmentVariable("DOCKER_HOST") ?? "unix:///var/run/docker.sock")).CreateClient();

    public static BaseImageBuilder BaseBuilder(IDockerClient docker, TextWriter output, bool refresh = false) =>
        BaseBuilder(docker, new ImmediateProgress<string>(output.WriteLine), refresh);

    public static BaseImageBuilder BaseBuilder(IDockerClient docker, IProgress<string> progress, bool refresh = false) =>
        new(docker, BaseImageOptions.ForRepository(RepoPaths.Root) with { Refresh = refresh }, progress);

    /// <summary>Builds the train in <paramref name="dir"/>, its steps shown as lines or, on a terminal, behind a spinner.</summary>
    private static Task<TrainImage> BuildTrainAsync(IDockerClient docker, string dir, TrainImageOptions options, TextWriter output, IAnsiConsole? terminal) =>
        WorkProgress.StepsAsync(output, terminal, $"building {Path.GetFileName(dir)}", progress =>
            new TrainImageBuilder(docker, BaseBuilder(docker, progress), progress).BuildAsync(dir, options));

    public static async Task<int> BaseAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal = null)
    {
        var verb = args.Required(0, "a base command: build");
        if (verb != "build") throw new UsageException($"unknown command 'base {verb}'; try: base build");
        var refresh = args.Flag("refresh");
        var withTorch = args.Flag("torch");
        args.RejectUnknown();
        using var docker = Docker();
        var (images, torch) = await WorkProgress.StepsAsync(output, terminal, "building base images", async progress =>
        {
            var builder = BaseBuilder(docker, progress, refresh);
            var images = await builder.BuildAsync();
            return (images, withTorch ? await builder.BuildTorchAsync(images) : null);
        });
        var torchBuilt = torch is not null && (torch.Performed & BaseBuildSteps.TorchImage) != 0;
        output.WriteLine(images.Built || torchBuilt ? "built:" : "up to date:");
        output.WriteLine($"  {images.BaseReference}  ({images.Packages.Count} Debian packages)");
        output.WriteLine($"  {images.RuntimeReference}");
        if (torch is not null)
        {
            output.WriteLine($"  {torch.Reference}  ({torch.TorchFiles.Files.Count} TorchSharp and libtorch files; smoke test: docker run --rm --entrypoint /app/{BaseImageBuilder.TorchSeedAssemblyName} {torch.Reference})");
        }
        return 0;
    }

    public static async Task<int> TrainAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal = null)
    {
        var verb = args.Required(0, "a train command: new|build|push|list|show|check|publish|reject|sign|verify");
        switch (verb)
        {
            case "build":
            {
                var dir = Path.GetFullPath(args.Required(1, "the train's folder (train.json and a .csproj)"));
                var tag = args.Option("tag");
                args.RejectUnknown();
                using var docker = Docker();
                var image = await BuildTrainAsync(docker, dir, new TrainImageOptions { Reference = tag }, output, terminal);
                output.WriteLine($"built {image.Reference} ({image.ImageId[..19]}…), train layer {image.LayerBytes / 1024.0:0.#} KiB");
                return 0;
            }
            case "push":
            {
                var target = args.Required(1, "a built image (e.g. healthtrain/cohort-stats:1.0.0) or a train folder");
                var keyPath = args.Option("key");
                var passphrase = KeyCommands.PassphraseFrom(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                using var key = keyPath is null ? null : SigningKey.Load(keyPath, passphrase);
                using var docker = Docker();
                if (Directory.Exists(target))
                    target = (await BuildTrainAsync(docker, Path.GetFullPath(target), new TrainImageOptions(), output, terminal)).Reference;
                var image = target;
                var train = await WorkProgress.UploadAsync(output, terminal, (step, uploads) => new TrainPublisher(docker, hub, key).PushAsync(image, step, uploads));
                output.WriteLine($"train {train.Id}: {train.Repository}:{train.Version} submitted as {train.Digest}");
                WriteState(train, output, terminal);
                return 0;
            }
            case "list":
            {
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                TrainList(await hub.ListTrainsAsync()).Write(output, terminal);
                return 0;
            }
            case "show" or "check" or "publish" or "reject":
            {
                var id = long.Parse(args.Required(1, "the train's id (see train list)"), System.Globalization.CultureInfo.InvariantCulture);
                var reason = args.Option("reason");
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                RejectExtra(args, 2);
                var train = verb switch
                {
                    "show" => await hub.GetTrainAsync(id),
                    "check" => await hub.CheckTrainAsync(id),
                    "publish" => await hub.PublishTrainAsync(id, reason),
                    _ => await hub.RejectTrainAsync(id, reason ?? throw new UsageException("--reason TEXT is required: the author reads it")),
                };
                output.WriteLine($"train {train.Id}: {train.Repository}:{train.Version} ({train.Kind}) by {train.Owner}, {train.Digest}");
                WriteState(train, output, terminal);
                return train.State == TrainStates.Rejected && verb != "reject" ? 1 : 0;
            }
            case "new":
            {
                var name = args.Required(1, "the new train's name (e.g. readmission-risk)");
                var template = args.Option("template") ?? throw new UsageException($"--template is required: {string.Join(", ", Templates.TrainTemplates.Names)}");
                var dir = args.Option("out") ?? name;
                args.RejectUnknown();
                RejectExtra(args, 2);
                var files = Templates.TrainTemplates.Scaffold(name, template, dir, RepoPaths.Root);
                foreach (var file in files) output.WriteLine($"wrote {file}");
                output.WriteLine($"next: healthtrain train build {Path.GetDirectoryName(files[0])}");
                return 0;
            }
            case "test":
                return await Simulation.SimulationCommand.RunAsync(args, output);
            case "sign":
                return await SignAsync(args, output);
            case "verify":
                return await VerifyAsync(args, output);
            default:
                throw new UsageException($"unknown command 'train {verb}'; try: train new|build|test|push|list|show|check|publish|reject|sign|verify");
        }
    }

    /// <summary>The trains as <c>train list</c> shows them.</summary>
    public static TextTable TrainList(IEnumerable<TrainInfo> trains)
    {
        var table = new TextTable(
        [
            new TextColumn("train") { Align = 5 },
            new TextColumn("image") { Before = "  ", Align = -36 },
            new TextColumn("kind") { Before = " ", Align = -10 },
            new TextColumn("state") { Before = " ", Align = -10, Style = StateStyles.For },
            new TextColumn("digest") { Before = " ", After = "…" },
            new TextColumn("submitted") { Before = "  " },
        ]);
        foreach (var t in trains)
            table.Add(t.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), t.Repository + ":" + t.Version, t.Kind, t.State, t.Digest[..19], $"{t.SubmittedAt:yyyy-MM-dd HH:mm}");
        return table;
    }

    /// <summary>The hub's checks of a train, one row each.</summary>
    public static TextTable Checks(IEnumerable<TrainCheck> checks)
    {
        var table = new TextTable(
        [
            new TextColumn("result") { Before = "  ", Style = StateStyles.For },
            new TextColumn("check") { Before = "  ", Align = -17 },
            new TextColumn("found") { Before = " " },
        ]);
        foreach (var check in checks) table.Add(check.Passed ? "ok  " : "FAIL", check.Name, check.Detail);
        return table;
    }

    /// <summary>Where a train stands and what the hub's checks found.</summary>
    private static void WriteState(TrainInfo train, TextWriter output, IAnsiConsole? terminal)
    {
        output.WriteLine($"  state: {train.State}" + (train.DecidedBy is null ? "" : $" (by {train.DecidedBy} at {train.DecidedAt:yyyy-MM-dd HH:mm}{(train.DecisionReason is null ? "" : ": " + train.DecisionReason)})"));
        Checks(train.Checks).Write(output, terminal);
        if (train.PublicationKeyId is not null) output.WriteLine($"  published with hub key {train.PublicationKeyId[..16]}…");
        if (train.State == TrainStates.Submitted && train.Checks.Any(c => !c.Passed))
            output.WriteLine($"  fix what failed, then: healthtrain train check {train.Id}");
        else if (train.State == TrainStates.Checked)
            output.WriteLine("  waiting for a hub operator to publish it");
    }

    /// <summary>
    /// <c>train sign IMAGE --key PATH [--passphrase-env VAR]</c>: signs the image's manifest digest (resolved through the
    /// hub's registry gateway) with a cosign simple-signing payload naming <c>HUB_HOST:PORT/REPOSITORY</c>, and stores it
    /// as cosign does, next to any signatures already there.
    /// </summary>
    private static async Task<int> SignAsync(CliArgs args, TextWriter output)
    {
        var image = args.Required(1, "the image to sign: REPOSITORY@sha256:… or REPOSITORY:TAG (e.g. alice/cohort-stats:1.0.0)");
        var keyPath = args.Option("key") ?? throw new UsageException("--key PATH is required: the private key made by 'healthtrain keys new'");
        var passphrase = KeyCommands.PassphraseFrom(args);
        var connection = HubProfile.Resolve(args);
        args.RejectUnknown();
        RejectExtra(args, 2);
        var (repository, reference) = ParseImage(image, connection);

        using var key = SigningKey.Load(keyPath, passphrase);
        using var hub = new HubApiClient(connection);
        var me = await hub.WhoAmIAsync();
        using var http = RegistryHttp(connection);
        var registry = new SignatureRegistry(http, new RegistryCredentials(me.Name, connection.Token));
        var digest = await registry.ResolveDigestAsync(repository, reference);
        var signature = await registry.SignAsync(repository, digest, key, creator: "healthtrain");
        output.WriteLine($"signed {registry.DockerReferenceFor(repository)}@{digest}");
        output.WriteLine($"  key id:    {key.KeyId}");
        output.WriteLine($"  signature: {repository}:{Cosign.SignatureTag(digest)} (layer {signature.ToLayer().Digest})");
        return 0;
    }

    /// <summary>
    /// <c>train verify IMAGE --key PUB.pem [--key …]</c>: which of the given public keys validly signed the image for this
    /// hub's repository; exits 1 when none did.
    /// </summary>
    private static async Task<int> VerifyAsync(CliArgs args, TextWriter output)
    {
        var image = args.Required(1, "the image to verify: REPOSITORY@sha256:… or REPOSITORY:TAG");
        var keyPaths = args.Options("key");
        if (keyPaths.Count == 0) throw new UsageException("--key PUB.pem is required (repeat it for several trusted keys)");
        var connection = HubProfile.Resolve(args);
        args.RejectUnknown();
        RejectExtra(args, 2);
        var (repository, reference) = ParseImage(image, connection);
        var keys = new List<(string Path, VerificationKey Key)>();
        foreach (var path in keyPaths)
        {
            try
            {
                keys.Add((path, VerificationKey.Load(path)));
            }
            catch (SigningKeyException e)
            {
                throw new SigningKeyException($"{path}: {e.Message}", e);
            }
        }

        using var hub = new HubApiClient(connection);
        var me = await hub.WhoAmIAsync();
        using var http = RegistryHttp(connection);
        var registry = new SignatureRegistry(http, new RegistryCredentials(me.Name, connection.Token));
        var digest = await registry.ResolveDigestAsync(repository, reference);
        var expected = registry.DockerReferenceFor(repository);
        var result = await registry.VerifyAsync(repository, digest, keys.Select(k => k.Key), expected);

        output.WriteLine($"{expected}@{digest}: {result.Checks.Count} signature(s) stored");
        foreach (var (path, key) in keys)
            output.WriteLine(result.IsSignedBy(key)
                ? $"  signed by     {key.KeyId}  ({path})"
                : $"  not signed by {key.KeyId}  ({path})");
        foreach (var check in result.Checks.Where(c => !c.IsValid && c.KeyId is not null))
            output.WriteLine($"  signature {check.LayerDigest[..19]}… by {check.KeyId![..16]}… does not count: {check.Problem}");
        if (result.IsSigned)
        {
            output.WriteLine($"verified: signed by {result.SignedByKeyIds.Count} of the {keys.Count} given key(s)");
            return 0;
        }
        output.WriteLine("NOT VERIFIED: none of the given keys signed this image");
        return 1;
    }

    private static void RejectExtra(CliArgs args, int expected)
    {
        if (args.Positional.Count > expected) throw new UsageException($"unexpected argument '{args.Positional[expected]}'");
    }

    /// <summary>An HttpClient for the hub's registry gateway at the root of the hub's origin.</summary>
    private static HttpClient RegistryHttp(HubConnection connection) =>
        new() { BaseAddress = new Uri(connection.Url, "/"), Timeout = TimeSpan.FromMinutes(2) };

    /// <summary>
    /// <c>REPOSITORY@sha256:…</c> or <c>REPOSITORY:TAG</c> in the hub's registry, optionally prefixed with the hub's
    /// <c>HOST:PORT/</c>; an image on any other registry is refused.
    /// </summary>
    public static (string Repository, string Reference) ParseImage(string image, HubConnection connection)
    {
        var name = image;
        var slash = name.IndexOf('/');
        if (slash > 0 && name[..slash] is var first && (first.Contains('.') || first.Contains(':') || first == "localhost"))
        {
            if (!string.Equals(first, connection.RegistryHost, StringComparison.OrdinalIgnoreCase))
                throw new UsageException($"'{image}' is on the registry {first}, not on this hub's ({connection.RegistryHost})");
            name = name[(slash + 1)..];
        }
        string repository, reference;
        var at = name.IndexOf('@');
        if (at >= 0)
        {
            repository = name[..at];
            reference = name[(at + 1)..];
            if (!SimpleSigningPayload.IsSha256Digest(reference))
                throw new UsageException($"'{reference}' is not a sha256 digest (sha256: and 64 lower-case hex digits)");
        }
        else
        {
            var colon = name.LastIndexOf(':');
            if (colon <= name.LastIndexOf('/'))
                throw new UsageException($"'{image}' names no tag or digest: use REPOSITORY:TAG or REPOSITORY@sha256:…");
            repository = name[..colon];
            reference = name[(colon + 1)..];
        }
        if (!repository.Contains('/'))
            throw new UsageException($"'{repository}' is not a hub repository: expected OWNER/NAME (e.g. alice/cohort-stats)");
        return (repository, reference);
    }
}
