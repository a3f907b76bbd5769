using System.Globalization;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Simulation;

/// <summary>
/// <c>healthtrain train test DIR --data PATH [--stations N] [--rounds R] [--strategy …] [--param k=v] [--parallel P]
/// [--evaluate] [--out FILE] [--work DIR]</c>: the train built and run round by round over local stations, no hub.
/// </summary>
public static class SimulationCommand
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var dir = Path.GetFullPath(args.Required(1, "the train's folder (train.json and a .csproj)"));
        var data = Path.GetFullPath(args.Option("data") ?? throw new UsageException("--data PATH is required: a folder of FHIR files (split by city into --stations parts), or one subfolder per station"));
        var stationCount = int.Parse(args.Option("stations") ?? "0", CultureInfo.InvariantCulture);
        var rounds = int.Parse(args.Option("rounds") ?? "3", CultureInfo.InvariantCulture);
        var parallel = int.Parse(args.Option("parallel") ?? "1", CultureInfo.InvariantCulture);
        var evaluate = args.Flag("evaluate");
        var outFile = args.Option("out");
        var work = Path.GetFullPath(args.Option("work") ?? Path.Combine(RepoPaths.WorkDir, "simulations", Path.GetFileName(dir)));
        var training = Commands.RunCommands.TrainingFrom(args) ?? new TrainingSettings();
        var parameters = Commands.RunCommands.ParseParameters(args.Options("param"));
        args.RejectUnknown();
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"--data {data} does not exist");
        if (rounds < 1) throw new UsageException("--rounds must be at least 1");

        using var docker = Commands.ImageCommands.Docker();
        var builder = new TrainImageBuilder(docker, Commands.ImageCommands.BaseBuilder(docker, output), new ImmediateProgress<string>(output.WriteLine));
        var image = await builder.BuildAsync(dir);
        if (image.Manifest.Kind != TrainKinds.Training)
            throw new UsageException($"{image.Manifest.Name} is a {image.Manifest.Kind} train; train test simulates training runs");

        var folders = StationFolders(data, stationCount, work, output);
        var stations = new List<SimulatedStation>();
        foreach (var (name, folder) in folders)
            stations.Add(Load(name, folder, work, output));
        SimulatedStation? all = null;
        if (evaluate) all = stations.Count == 1 ? stations[0] : Load("all-stations", data, work, output, folders.Select(f => f.Folder).ToList());

        var simulation = new LocalSimulation(docker, image.Reference, image.Manifest, stations,
            new SimulationOptions(work, rounds, training, parameters) { Parallel = parallel }, output.WriteLine);
        var result = await simulation.RunAsync(all, CancellationToken.None);
        if (outFile is not null)
        {
            File.Copy(result.FinalModel, outFile, overwrite: true);
            output.WriteLine($"final model: {outFile}");
        }
        else output.WriteLine($"final model: {result.FinalModel}");
        return 0;
    }

    /// <summary>Station folders: the subfolders of <paramref name="data"/>, or <paramref name="data"/> split by city into N parts.</summary>
    private static IReadOnlyList<(string Name, string Folder)> StationFolders(string data, int stations, string work, TextWriter output)
    {
        var subfolders = Directory.GetDirectories(data).Order(StringComparer.Ordinal).ToList();
        if (stations == 0 && subfolders.Count > 0) return [.. subfolders.Select(f => (Path.GetFileName(f), f))];
        if (stations <= 1) return [("station-1", data)];
        var split = CitySplit.Split(data, Path.Combine(work, "slices", $"{stations}"), stations);
        output.WriteLine($"split {data} by city into {stations} stations: {string.Join(", ", split.Parts.Select(p => $"{p.PatientCount} patients"))}");
        return [.. split.Parts.Select((p, i) => ($"station-{i + 1}", p.Folder))];
    }

    private static SimulatedStation Load(string name, string folder, string work, TextWriter output, IReadOnlyList<string>? unionOf = null)
    {
        var station = SimulatedStation.Load(name, unionOf ?? [folder], Path.Combine(work, name, "fhir.db"));
        output.WriteLine($"{name}: {station.Resources} resources from {(unionOf is null ? folder : string.Join(" + ", unionOf.Select(Path.GetFileName)))}");
        return station;
    }
}
