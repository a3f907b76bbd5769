using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;

// healthtrain: the researcher's and operator's command line. Each command prints what it did, and
// exits non-zero with a one-paragraph reason when it could not.
var output = Console.Out;
(args, var plain) = Terminal.TakePlainOption(args);
// Tables and progress bars only on an interactive terminal: redirected output stays the plain text scripts read.
var terminal = Terminal.Detect(plain);
try
{
    if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
    {
        output.WriteLine(Usage.Text);
        return args.Length == 0 ? 2 : 0;
    }
    var rest = new CliArgs(args.Skip(1), "json", "watch", "refresh", "torch", "norm-bound", "no-training");
    return args[0] switch
    {
        "demo" => await DemoCommand.RunAsync(rest, output),
        "base" => await ImageCommands.BaseAsync(rest, output, terminal),
        "train" => await ImageCommands.TrainAsync(rest, output, terminal),
        "run" => await RunCommands.RunAsync(rest.Required(0, "a run command: start|show|watch|results|list"), rest, output, terminal),
        "keys" => await KeyCommands.RunAsync(rest, output, terminal),
        "model" => await ModelCommands.RunAsync(rest, output, terminal),
        "identity" => await IdentityCommands.RunAsync(rest, output),
        "station" => await IdentityCommands.StationAsync(rest, output, terminal),
        "login" => await IdentityCommands.LoginAsync(rest, output),
        "whoami" => await IdentityCommands.WhoAmIAsync(rest, output),
        "data" => DataCommands.Run(rest, output),
        "ledger" => await LedgerCommands.RunAsync(rest.Required(0, "a ledger command: verify|show"), rest, output),
        _ => throw new UsageException($"unknown command '{args[0]}'"),
    };
}
catch (FormatException e)
{
    Console.Error.WriteLine($"healthtrain: a number was expected: {e.Message}");
    return 2;
}
catch (UsageException e)
{
    Console.Error.WriteLine($"healthtrain: {e.Message}");
    Console.Error.WriteLine("run 'healthtrain help' for the list of commands");
    return 2;
}
catch (ProtocolValidationException e)
{
    Console.Error.WriteLine($"healthtrain: {e.Message}");
    return 1;
}
catch (HealthTrain.Trains.Protocol.Signing.SigningKeyException e)
{
    Console.Error.WriteLine($"healthtrain: the key cannot be used: {e.Message}");
    return 1;
}
catch (HealthTrain.Trains.Protocol.Signing.SignatureRegistryException e)
{
    Console.Error.WriteLine($"healthtrain: the registry refused: {e.Message}");
    return 1;
}
catch (HubApiException e)
{
    Console.Error.WriteLine($"healthtrain: the hub refused: {e.Message}");
    return 1;
}
catch (Exception e) when (e is HttpRequestException or InvalidOperationException or IOException or ArgumentException or TimeoutException or HealthTrain.Cli.Images.ImageBuildException
                          or Docker.DotNet.DockerApiException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException)
{
    Console.Error.WriteLine($"healthtrain: {e.Message}");
    return 1;
}

/// <summary>The command list printed by <c>healthtrain help</c>.</summary>
internal static class Usage
{
    public const string Text = """
        healthtrain — build, push and run trains on a HealthTrain federation

        Set-up (from the checkout):
          ./healthtrain demo [--no-training]       run a whole local federation end to end: statistics, then federated training
          ./healthtrain test                       run every test

        Researchers:
          healthtrain login --hub URL --token T    remember the hub and your token
          healthtrain base build [--refresh] [--torch]   build the Debian base images trains run on (cached);
                                                   --torch also the TorchSharp/libtorch one training trains use
          healthtrain train new NAME --template torch-classifier [--out DIR]   scaffold a training train (in the checkout)
          healthtrain train build DIR              build the train in DIR (train.json + a .csproj) into a local image
          healthtrain train test DIR --data PATH [--stations N] [--rounds R] [--strategy …] [--param k=v] [--evaluate] [--out FILE]
                                                   simulate a training run over local stations (PATH split by city, or one
                                                   subfolder per station) with the stations' and hub's own code, no hub;
                                                   image trains: PATH a .npz [--split train|val] or collection .safetensors,
                                                   dealt by label [--label-skew S]
          healthtrain train push IMAGE|DIR [--key PATH]   push a train, sign it with your key, submit it for publication
          healthtrain train list                   trains you submitted, with their state
          healthtrain train show|check ID          the hub's checks of a train (check: run them again, e.g. after signing)
          healthtrain keys new --out PATH [--passphrase-env VAR]   an ECDSA P-256 signing key (PATH, PATH.pub)
          healthtrain keys register PATH.pub | keys list | keys revoke KEYID   your signing keys at the hub
          healthtrain keys hub [--out DIR]         the hub's publication and ledger public keys, to pin
          healthtrain train sign IMAGE --key PATH [--passphrase-env VAR]   sign REPO@sha256:… or REPO:TAG as cosign does
          healthtrain train verify IMAGE --key PUB.pem [--key …]   which of these keys signed it (exit 1: none)
          healthtrain run start TRAIN --stations a,b [--param k=v] [--watch]
              training trains: [--rounds R] [--strategy fedavg|fedprox|fedadam|median|trimmed-mean|geometric-median] [--mu X]
              [--server-lr X] [--trim X] [--norm-bound] [--min-stations N] [--min-fraction F] [--deadline SECONDS] [--seed N]
          healthtrain model list [--run RUN] | model show REF | model pull REF --out FILE   REF: sha256:… or RUN/ROUND
          healthtrain run watch|show|results RUN [--json]
          healthtrain run prov RUN                 the run's provenance as W3C PROV-JSON
          healthtrain model prov REF               one model version's lineage as W3C PROV-JSON
          healthtrain run list
          healthtrain station list                 stations you can run at
          healthtrain ledger verify [--state FILE] [--receipts FILE|DIR]... [--station URL --station-token T]
                                                   check the hub's provenance ledger (exit 1: tampered), also against
                                                   receipts kept by stations (exported, or straight from a station)
          healthtrain ledger show [--from N] [--count N]   list ledger entries

        Hub operators:
          healthtrain identity add NAME --role researcher|station|operator
          healthtrain identity list
          healthtrain train publish ID [--reason TEXT]   sign and publish a checked train (only published trains run)
          healthtrain train reject ID --reason TEXT

        Station operators (--station URL --token T, or HEALTHTRAIN_STATION / HEALTHTRAIN_STATION_TOKEN):
          healthtrain station approvals [list] [--state pending|approved|rejected]
          healthtrain station approvals show DIGEST          the inspection report: signers, layers, config, manifest, changes
          healthtrain station approvals approve DIGEST [--reason TEXT]
          healthtrain station approvals reject DIGEST --reason TEXT
          healthtrain station audit [--job N] [--train NAME] [--kind K] [--limit N] [--json]
                                                   the station's own audit log: views given, decisions, releases, refusals
          healthtrain station receipts [--out FILE]   receipts of the station's ledger entries (--out: for ledger verify --receipts)

        Data:
          healthtrain data split SRC --parts N --out DIR   split Synthea bundles into N sites by city
          healthtrain data images NPZ --split train|val [--limit N] --out FILE.safetensors
                                                   a MedMNIST split as an image collection (images uint8, labels int64)

        Every command that talks to the hub takes --hub URL and --token TOKEN
        (or HEALTHTRAIN_HUB / HEALTHTRAIN_TOKEN, or the profile saved by login).
        On a terminal, lists are tables and long work shows progress; --plain (or redirecting the output)
        prints the plain lines scripts read.
        """;
}
