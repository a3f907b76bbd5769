using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Bench;

/// <summary>
/// The hub's and stations' time per training round: diabetes-risk (one local epoch) over N stations holding city slices
/// of the Synthea population, through the real registry, hub, stations and Docker. A round's wall time runs from the
/// previous version (or the run's creation) to its own version; its overhead is that minus the slowest station's
/// train time (container start to exit).
/// </summary>
public static class RoundOverheadBench
{
    public static async Task RunAsync(int stations, int rounds, TextWriter output)
    {
        var root = Directory.CreateTempSubdirectory("ht-bench-rounds-").FullName;
        try
        {
            using var docker = ImageCommands.Docker();
            var quiet = new ImmediateProgress<string>(_ => { });
            var builder = new TrainImageBuilder(docker, new BaseImageBuilder(docker, BaseImageOptions.ForRepository(RepoPaths.Root), quiet), quiet);
            var image = await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
            var slices = DemoData.EnsureSlices(RepoPaths.WorkDir, stations);

            await using var federation = await LocalFederation.StartAsync(new FederationOptions(Path.Combine(root, "federation"))
            {
                AutoPublishKinds = [TrainKinds.Statistics, TrainKinds.Training],
                StationPollSeconds = 20,
            });
            using var researcher = await federation.AddResearcherAsync("bench");
            var names = slices.Parts.Select((_, i) => $"station-{i + 1:00}").ToList();
            // Two at a time: every station loads its slice into its store at start.
            for (var i = 0; i < names.Count; i += 2)
                await Task.WhenAll(names.Skip(i).Take(2).Select((n, k) => federation.AddStationAsync(n, slices.Parts[i + k].Folder,
                    settings: ["Approval:AutoApprove:1:Name=bench-training", "Approval:AutoApprove:1:Kinds:0=training"])));
            var train = await federation.Publisher(docker, researcher).PushAsync(image.Reference);

            var run = await researcher.StartRunAsync(new RunRequest(train.Id, names, rounds + 1, new()
            {
                ["epochs"] = JsonSerializer.SerializeToElement(1),
            }) { Training = new TrainingSettings() });
            var done = await researcher.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(30));
            if (done.State != RunStates.Completed) throw new InvalidOperationException(RunCommands.Describe(done));
            var versions = await researcher.ListModelsAsync(run.Id);

            output.WriteLine($"diabetes-risk, {stations} stations ({string.Join("/", slices.Parts.Select(p => p.PatientCount))} patients), 1 local epoch; round 1 (first view evaluations) is a warm-up");
            output.WriteLine($"{"round",5} {"wall ms",9} {"slowest train ms",17} {"overhead ms",12}");
            var overheads = new List<double>();
            for (var r = 1; r <= rounds + 1; r++)
            {
                var start = r == 1 ? done.CreatedAt : versions[r - 2].CreatedAt;
                var wall = (versions[r - 1].CreatedAt - start).TotalMilliseconds;
                var slowest = done.Jobs.Where(j => j.Round == r).Max(j => j.Timings?.RunMs ?? 0);
                var overhead = wall - slowest;
                if (r > 1) overheads.Add(overhead);
                output.WriteLine($"{r,5} {wall,9:0} {slowest,17} {overhead,12:0}{(r == 1 ? "  (warm-up)" : "")}");
            }
            // Where a station's time goes in rounds 2 on (medians over their jobs), and the hub's part: claim to start, end to next round.
            var later = done.Jobs.Where(j => j.Round > 1 && j.Timings is not null).ToList();
            double Median(IEnumerable<double> xs) { var v = xs.Order().ToList(); return v[v.Count / 2]; }
            output.WriteLine("per job, rounds 2 on (median ms): " + string.Join(", ", new (string, Func<JobInfo, double>)[]
            {
                ("pull", j => j.Timings!.PullMs), ("verify+inspect", j => j.Timings!.InspectMs), ("input incl. global model", j => j.Timings!.PrepareInputMs),
                ("create+start", j => j.Timings!.CreateStartMs), ("train", j => j.Timings!.RunMs), ("collect", j => j.Timings!.CollectMs),
                ("upload+hub", j => (j.FinishedAt!.Value - j.ClaimedAt!.Value).TotalMilliseconds - j.Timings!.TotalMs),
                ("round open to claim", j => (j.ClaimedAt!.Value - (j.Round == 1 ? done.CreatedAt : versions[j.Round - 2].CreatedAt)).TotalMilliseconds),
            }.Select(p => $"{p.Item1} {Median(later.Select(p.Item2)):0}")));
            var lastFinish = Enumerable.Range(2, rounds).Select(r => (versions[r - 1].CreatedAt - done.Jobs.Where(j => j.Round == r).Max(j => j.FinishedAt!.Value)).TotalMilliseconds);
            output.WriteLine($"last result of a round to its merged version (median ms): {Median(lastFinish):0}");
            var sorted = overheads.Order().ToList();
            output.WriteLine($"overhead per round over rounds 2-{rounds + 1}: median {sorted[sorted.Count / 2]:0} ms, max {sorted[^1]:0} ms (goal: <= 2000 ms)");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
