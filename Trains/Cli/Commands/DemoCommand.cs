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
/// with disjoint city slices of a Synthea population — runs <c>cohort-stats</c> and prints the pooled table, then
/// trains <c>diabetes-risk</c> federated: the hub operator publishes it, each station's operator approves it, five
/// rounds of fedavg, and the model versions with the held-out AUROC of the model each round received and trained.
/// </summary>
public static class DemoCommand
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var stationCount = int.Parse(args.Option("stations") ?? "3", CultureInfo.InvariantCulture);
        var skipTraining = args.Flag("no-training");
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
        Done("statistics shown");
        if (exit != 0)
        {
            output.WriteLine($"==> demo FAILED in {total.Elapsed.TotalSeconds:0.0} s; logs in {federation.LogDir}");
            output.WriteLine(RunCommands.Describe(finished));
            return exit;
        }
        if (!skipTraining) exit = await TrainAsync(docker, baseBuilder, federation, researcher, stations, output, Done);
        output.WriteLine($"==> demo {(exit == 0 ? "completed" : "FAILED")} in {total.Elapsed.TotalSeconds:0.0} s; logs in {federation.LogDir}");
        return exit;
    }

    private const int TrainingRounds = 5;

    /// <summary>
    /// The training part: diabetes-risk pushed by the researcher, published by the hub operator (training trains are
    /// not published automatically), approved once by each station's operator, then five fedavg rounds.
    /// </summary>
    private static async Task<int> TrainAsync(Docker.DotNet.DockerClient docker, BaseImageBuilder baseBuilder, LocalFederation federation,
        HubApiClient researcher, IReadOnlyList<string> stations, TextWriter output, Action<string> done)
    {
        output.WriteLine("==> images: the TorchSharp base image and the diabetes-risk training train");
        var train = await new TrainImageBuilder(docker, baseBuilder, new ImmediateProgress<string>(_ => { }))
            .BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
        done($"built {train.Reference}, train layer {train.LayerBytes / 1024.0:0} KiB");

        output.WriteLine("==> researcher alice pushes diabetes-risk; the hub operator publishes it");
        var submitted = await federation.Publisher(docker, researcher).PushAsync(train.Reference, m => output.WriteLine("  " + m));
        using (var hubOperator = new HubApiClient(new HubConnection(federation.HubUrl, federation.OperatorToken)))
        {
            var published = await hubOperator.PublishTrainAsync(submitted.Id, "demo: reviewed by the hub operator");
            done($"train {published.Id} {published.State}: {published.Repository}@{published.Digest[..19]}…");
        }

        output.WriteLine($"==> {TrainingRounds} rounds of federated training (fedavg) at {string.Join(", ", stations)}; each station's operator approves the image");
        var run = await researcher.StartRunAsync(new RunRequest(submitted.Id, [.. stations], TrainingRounds,
            new() { ["epochs"] = System.Text.Json.JsonSerializer.SerializeToElement(10) })
        { Training = new TrainingSettings { Strategy = "fedavg", Seed = 42 } });
        var approvals = federation.Stations.Select(station => ApproveWhenInspectedAsync(station, submitted.Digest, output));
        var watching = RunCommands.WatchAsync(researcher, run.Id, output);
        await Task.WhenAll(approvals);
        var exit = await watching;
        done("training run finished");
        if (exit != 0)
        {
            output.WriteLine(RunCommands.Describe(await researcher.GetRunAsync(run.Id)));
            return exit;
        }

        output.WriteLine();
        output.WriteLine($"{"round",5}  {"model version",-23}  {"stations",8}  {"samples",7}  {"AUROC received",14}  {"AUROC trained",13}");
        foreach (var version in (await researcher.ListModelsAsync(run.Id)).OrderBy(v => v.Round))
        {
            // Sample-weighted over the stations, each scoring on its own held-out patients.
            string Metric(string name) => version.Contributors.Where(c => c.Metrics.ContainsKey(name)).ToList() is { Count: > 0 } scored
                ? (scored.Sum(c => c.Metrics[name] * c.Samples) / scored.Sum(c => c.Samples)).ToString("0.000", CultureInfo.InvariantCulture) : "-";
            output.WriteLine($"{version.Round,5}  {version.Digest[..23]}  {version.Contributors.Count,8}  {version.Samples,7}  {Metric("global_auroc"),14}  {Metric("local_auroc"),13}");
        }
        output.WriteLine("    received: the global model each station started the round from (round 1: the seeded start); trained: the");
        output.WriteLine("    station's model after its local epochs. Both on each station's held-out patients, weighted by samples.");
        output.WriteLine($"    healthtrain model list --run {run.Id}   |   healthtrain model pull {run.Id}/{TrainingRounds} --out model.safetensors");
        return 0;
    }

    /// <summary>As a station's operator would: wait until the station has inspected the image, then approve it.</summary>
    private static async Task ApproveWhenInspectedAsync(LocalStation station, string digest, TextWriter output)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{station.StatusUrl.Authority}") };
        http.DefaultRequestHeaders.Authorization = new("Bearer", LocalFederation.OperatorTokenOf(station));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            using var inspected = await http.GetAsync($"/api/approvals/{digest}");
            if (inspected.IsSuccessStatusCode) break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{station.Name} did not inspect {digest} within 10 minutes");
            await Task.Delay(250);
        }
        using var approved = await http.PostAsync($"/api/approvals/{digest}/approve",
            System.Net.Http.Json.JsonContent.Create(new ApprovalDecision("demo: diabetes-risk reviewed by the station operator"), options: ProtocolJson.Api));
        if (!approved.IsSuccessStatusCode)
            throw new InvalidOperationException($"{station.Name} refused the approval: {(int)approved.StatusCode} {await approved.Content.ReadAsStringAsync()}");
        lock (output) output.WriteLine($"    {station.Name}: operator approved {digest[..19]}…");
    }

    /// <summary>hospital-a, hospital-b, …</summary>
    public static string StationName(int number) => "hospital-" + (char)('a' + number - 1);
}
