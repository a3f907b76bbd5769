using System.Diagnostics;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Bench;

/// <summary>
/// Runs cohort-stats N times, one job at a time, at one station holding a few patients, through the real
/// registry, hub, station and Docker, and reports where each job's time goes. The first job (the cold pull)
/// is a warm-up and not counted.
/// </summary>
public static class JobOverheadBench
{
    public static async Task RunAsync(int jobs, TextWriter output)
    {
        var root = Directory.CreateTempSubdirectory("ht-bench-").FullName;
        try
        {
            using var docker = ImageCommands.Docker();
            var quiet = new ImmediateProgress<string>(_ => { });
            var builder = new TrainImageBuilder(docker, new BaseImageBuilder(docker, BaseImageOptions.ForRepository(RepoPaths.Root), quiet), quiet);
            var image = await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "cohort-stats"));

            await using var federation = await LocalFederation.StartAsync(new FederationOptions(Path.Combine(root, "federation")));
            using var researcher = await federation.AddResearcherAsync("bench");
            var data = Path.Combine(root, "data");
            Directory.CreateDirectory(data);
            File.WriteAllLines(Path.Combine(data, "Patient.ndjson"), Enumerable.Range(1, 10).Select(i =>
                $$"""{"resourceType":"Patient","id":"p{{i}}","gender":"female","birthDate":"1970-01-{{i:00}}"}"""));
            await federation.AddStationAsync("bench-station", data);
            var train = await federation.Publisher(docker, researcher).PushAsync(image.Reference);

            var samples = new List<(JobInfo Job, double WallMs)>();
            for (var i = 0; i <= jobs; i++)
            {
                var clock = Stopwatch.StartNew();
                var run = await researcher.StartRunAsync(new RunRequest(train.Id, ["bench-station"]));
                var done = await researcher.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(5));
                var wall = clock.Elapsed.TotalMilliseconds;
                var job = done.Jobs.Single();
                if (done.State != RunStates.Completed) throw new InvalidOperationException(RunCommands.Describe(done));
                if (i > 0) samples.Add((job, wall));
                else output.WriteLine($"warm-up job (cold pull): {job.Timings!.TotalMs} ms at the station, pull {job.Timings.PullMs} ms");
            }

            double Median(IEnumerable<double> xs) { var s = xs.Order().ToList(); return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2; }
            double Max(IEnumerable<double> xs) => xs.Max();
            var rows = new (string Name, Func<JobInfo, double, double> Value)[]
            {
                ("pull (cached image)", (j, _) => j.Timings!.PullMs),
                ("verify signatures, inspect manifest", (j, _) => j.Timings!.InspectMs),
                ("prepare input", (j, _) => j.Timings!.PrepareInputMs),
                ("create + start container", (j, _) => j.Timings!.CreateStartMs),
                ("collect + check output", (j, _) => j.Timings!.CollectMs),
                ("upload + hub bookkeeping", (j, _) => (j.FinishedAt!.Value - j.ClaimedAt!.Value).TotalMilliseconds - j.Timings!.TotalMs),
                ("PLATFORM OVERHEAD (claim to result stored, minus train)", (j, _) => (j.FinishedAt!.Value - j.ClaimedAt!.Value).TotalMilliseconds - j.Timings!.RunMs),
                ("train run (container start to exit)", (j, _) => j.Timings!.RunMs),
                ("researcher wall time (start run to completed)", (_, w) => w),
            };
            output.WriteLine($"{jobs} jobs, one at a time, cohort-stats over 10 patients at one station ({Environment.ProcessorCount} cores)");
            output.WriteLine($"{"phase",-58} {"median ms",10} {"max ms",10}");
            foreach (var (name, value) in rows)
                output.WriteLine($"{name,-58} {Median(samples.Select(s => value(s.Job, s.WallMs))),10:0} {Max(samples.Select(s => value(s.Job, s.WallMs))),10:0}");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
