using System.Diagnostics;
using System.Globalization;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// <c>healthtrain demo</c>: a whole federation on this machine — registry, hub, three hospital stations
/// with disjoint city slices of a Synthea population — runs <c>cohort-stats</c> and prints the pooled table.
/// </summary>
public static class DemoCommand
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var stationCount = int.Parse(args.Option("stations") ?? "3", CultureInfo.InvariantCulture);
        args.RejectUnknown();
        if (stationCount is < 1 or > 26) throw new UsageException("--stations must be between 1 and 26");
        var total = Stopwatch.StartNew();
        var step = Stopwatch.StartNew();
        void Done(string what)
        {
            output.WriteLine($"    {what} ({step.Elapsed.TotalSeconds:0.0} s)");
            step.Restart();
        }

        // Station stores are kept per split: a store loaded from another split would overlap its neighbours.
        var root = Path.Combine(RepoPaths.WorkDir, "demo", $"{stationCount}-stations");
        // The hub starts fresh each time; registry blobs and station stores are caches that make the second run fast.
        foreach (var dir in new[] { "hub", "logs" }) if (Directory.Exists(Path.Combine(root, dir))) Directory.Delete(Path.Combine(root, dir), true);
        Directory.CreateDirectory(root);

        output.WriteLine($"==> data: {DemoData.DataSet}, split by city into {stationCount} hospitals");
        var slices = DemoData.EnsureSlices(RepoPaths.WorkDir, stationCount);
        foreach (var part in slices.Parts)
            output.WriteLine($"    {StationName(part.Number)}: {part.PatientCount} patients, {part.Cities.Count} cities ({string.Join(", ", part.Cities.Take(3))}, …)");
        Done("data ready");

        output.WriteLine("==> images: base images and the cohort-stats train");
        using var docker = ImageCommands.Docker();
        var quiet = new ImmediateProgress<string>(_ => { });
        var baseBuilder = new BaseImageBuilder(docker, BaseImageOptions.ForRepository(RepoPaths.Root), new ImmediateProgress<string>(m => output.WriteLine("    " + m)));
        var train = await new TrainImageBuilder(docker, baseBuilder, quiet).BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "cohort-stats"));
        Done($"built {train.Reference}, train layer {train.LayerBytes / 1024.0:0} KiB");

        output.WriteLine("==> federation: registry, hub and stations on 127.0.0.1");
        await using var federation = await LocalFederation.StartAsync(new FederationOptions(root));
        output.WriteLine($"    registry {federation.RegistryUrl} (loopback only), hub {federation.HubUrl}");
        using var researcher = await federation.AddResearcherAsync("alice");
        var stations = new List<string>();
        foreach (var part in slices.Parts)
        {
            var name = StationName(part.Number);
            await federation.AddStationAsync(name, part.Folder);
            stations.Add(name);
        }
        foreach (var station in federation.Stations)
        {
            var status = await federation.StatusAsync(station);
            var resources = status?.GetProperty("resources");
            output.WriteLine($"    {station.Name}: {resources?.EnumerateObject().Sum(p => p.Value.GetInt64()):N0} FHIR resources in its store");
        }
        Done("federation up");

        output.WriteLine("==> researcher alice pushes cohort-stats through the hub");
        var submitted = await federation.Publisher(docker, researcher).PushAsync(train.Reference, m => output.WriteLine("  " + m));
        Done($"train {submitted.Id} submitted: {submitted.Repository}@{submitted.Digest[..19]}…");

        output.WriteLine($"==> run at {string.Join(", ", stations)}");
        var run = await researcher.StartRunAsync(new RunRequest(submitted.Id, stations));
        var exit = await RunCommands.WatchAsync(researcher, run.Id, output);
        Done("run finished");

        var results = await researcher.GetResultsAsync(run.Id);
        var finished = await researcher.GetRunAsync(run.Id);
        output.WriteLine();
        foreach (var round in results.Rounds.Where(r => r.Pooled is not null))
            output.WriteLine(PooledTable.Render(round.Pooled!));
        output.WriteLine();
        foreach (var job in finished.Jobs.Where(j => j.Timings is not null))
        {
            var t = job.Timings!;
            output.WriteLine($"    {job.Station}: job {t.TotalMs} ms = pull {t.PullMs} + inspect {t.InspectMs} + input {t.PrepareInputMs} + start {t.CreateStartMs} + train {t.RunMs} + collect {t.CollectMs} ms");
        }
        output.WriteLine($"==> demo {(exit == 0 ? "completed" : "FAILED")} in {total.Elapsed.TotalSeconds:0.0} s; logs in {federation.LogDir}");
        if (exit != 0) output.WriteLine(RunCommands.Describe(finished));
        return exit;
    }

    /// <summary>hospital-a, hospital-b, …</summary>
    public static string StationName(int number) => "hospital-" + (char)('a' + number - 1);
}
