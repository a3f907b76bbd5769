using System.Globalization;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Simulation;

/// <summary>
/// <c>healthtrain train test DIR --data PATH [--stations N] [--rounds R] [--strategy …] [--param k=v] [--parallel P]
/// [--evaluate] [--out FILE] [--work DIR]</c>: the train built and run round by round over local stations, no hub.
/// PATH is FHIR data (a folder), or for a train reading an image collection a MedMNIST <c>.npz</c> (<c>--split
/// train|val</c>) or a collection <c>.safetensors</c>, dealt to the stations by label (<c>--label-skew S</c>: the share of
/// each class at its own station; default 1/N, an even deal).
/// </summary>
public static class SimulationCommand
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var dir = Path.GetFullPath(args.Required(1, "the train's folder (train.json and a .csproj)"));
        var data = Path.GetFullPath(args.Option("data") ?? throw new UsageException("--data PATH is required: a folder of FHIR files (split by city into --stations parts), one subfolder per station, or an image collection (.npz, .safetensors)"));
        var imageSplit = args.Option("split") ?? "train";
        var labelSkew = args.Option("label-skew") is { } skewText ? double.Parse(skewText, CultureInfo.InvariantCulture) : (double?)null;
        var stationCount = int.Parse(args.Option("stations") ?? "0", CultureInfo.InvariantCulture);
        var rounds = int.Parse(args.Option("rounds") ?? "3", CultureInfo.InvariantCulture);
        var parallel = int.Parse(args.Option("parallel") ?? "1", CultureInfo.InvariantCulture);
        var evaluate = args.Flag("evaluate");
        var outFile = args.Option("out");
        var work = Path.GetFullPath(args.Option("work") ?? Path.Combine(RepoPaths.WorkDir, "simulations", Path.GetFileName(dir)));
        var training = Commands.RunCommands.TrainingFrom(args) ?? new TrainingSettings();
        var parameters = Commands.RunCommands.ParseParameters(args.Options("param"));
        args.RejectUnknown();
        var images = File.Exists(data) && (data.EndsWith(".npz", StringComparison.OrdinalIgnoreCase) || data.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase));
        if (!images && !Directory.Exists(data)) throw new DirectoryNotFoundException($"--data {data} is neither a folder of FHIR data nor an image collection (.npz, .safetensors)");
        if (rounds < 1) throw new UsageException("--rounds must be at least 1");

        using var docker = Commands.ImageCommands.Docker();
        var builder = new TrainImageBuilder(docker, Commands.ImageCommands.BaseBuilder(docker, output), new ImmediateProgress<string>(output.WriteLine));
        var image = await builder.BuildAsync(dir);
        if (image.Manifest.Kind != TrainKinds.Training)
            throw new UsageException($"{image.Manifest.Name} is a {image.Manifest.Kind} train; train test simulates training runs");

        var stations = new List<SimulatedStation>();
        SimulatedStation? all = null;
        if (images)
        {
            var input = image.Manifest.Inputs.Where(i => i.Kind == InputKinds.ImageCollection).Select(i => i.Name!).ToList() is [var only] ? only
                : throw new UsageException($"{image.Manifest.Name} reads {(image.Manifest.Inputs.Any(i => i.Kind == InputKinds.ImageCollection) ? "several image collections" : "no image collection")}; --data with images needs a train that reads exactly one");
            (stations, all) = ImageStations(data, imageSplit, input, Math.Max(stationCount, 1), labelSkew, work, output);
            if (!evaluate) all = null;
        }
        else
        {
            var folders = StationFolders(data, stationCount, work, output);
            foreach (var (name, folder) in folders)
                stations.Add(Load(name, folder, work, output));
            if (evaluate) all = stations.Count == 1 ? stations[0] : Load("all-stations", data, work, output, folders.Select(f => f.Folder).ToList());
        }

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

    /// <summary>Stations serving parts of an image collection as input <paramref name="input"/>, and one serving all of it (for evaluation).</summary>
    private static (List<SimulatedStation> Stations, SimulatedStation All) ImageStations(string data, string split, string input, int count,
        double? skew, string work, TextWriter output)
    {
        HealthTrain.Trains.Protocol.Models.ImageCollection collection;
        if (data.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) collection = Data.NpzImages.Read(data, split);
        else using (var file = File.OpenRead(data)) collection = HealthTrain.Trains.Protocol.Models.ImageCollection.Read(file);
        if (skew is { } s && (!double.IsFinite(s) || s < 1.0 / count - 1e-9 || s > 1))
            throw new UsageException($"--label-skew must be between 1/{count} and 1 for {count} stations");
        var parts = count == 1 ? [collection] : Data.ImageSplit.LabelSkewed(collection, count, skew ?? 1.0 / count, seed: 42);
        SimulatedStation Station(string name, HealthTrain.Trains.Protocol.Models.ImageCollection part)
        {
            var file = Path.Combine(work, name, input + ".safetensors");
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            using (var stream = File.Create(file)) part.Write(stream);
            var labels = part.Labels.GroupBy(l => l).OrderBy(g => g.Key).Select(g => $"{g.Count()} labelled {g.Key}");
            output.WriteLine($"{name}: {part.Count} images ({string.Join(", ", labels)})");
            return SimulatedStation.WithImages(name, new Dictionary<string, string> { [input] = file }, Path.Combine(work, name, "fhir.db"));
        }
        var stations = parts.Select((p, i) => Station($"station-{i + 1}", p)).ToList();
        return (stations, count == 1 ? stations[0] : Station("all-stations", collection));
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
