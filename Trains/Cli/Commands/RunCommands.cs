using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Output;
using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;
using Spectre.Console;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain run start|show|watch|results|list</c>.</summary>
public static class RunCommands
{
    public static async Task<int> RunAsync(string verb, CliArgs args, TextWriter output, IAnsiConsole? terminal = null)
    {
        switch (verb)
        {
            case "start":
            {
                var train = args.Required(1, "train: an id or name:version");
                var stations = args.Options("station").Concat(args.Options("stations").SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))).ToList();
                var parameters = ParseParameters(args.Options("param"));
                var rounds = int.Parse(args.Option("rounds") ?? "1", CultureInfo.InvariantCulture);
                var training = TrainingFrom(args);
                var watch = args.Flag("watch");
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                var trainId = await ResolveTrainAsync(hub, train);
                var run = await hub.StartRunAsync(new RunRequest(trainId, stations, rounds, parameters) { Training = training });
                output.WriteLine($"run {run.Id} started: {run.Train} at {string.Join(", ", run.Jobs.Select(j => j.Station))}");
                if (watch) return await WatchAsync(hub, run.Id, output, terminal);
                return 0;
            }
            case "show":
            {
                var id = RunId(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                var json = args.Flag("json");
                args.RejectUnknown();
                var run = await hub.GetRunAsync(id);
                if (json) output.WriteLine(JsonSerializer.Serialize(run, ProtocolJson.Api));
                else if (terminal is null) output.WriteLine(Describe(run));
                else terminal.Write(DescribeRich(run));
                return 0;
            }
            case "watch":
            {
                var id = RunId(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                return await WatchAsync(hub, id, output, terminal);
            }
            case "results":
            {
                var id = RunId(args);
                var json = args.Flag("json");
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                var results = await hub.GetResultsAsync(id);
                if (json) { output.WriteLine(JsonSerializer.Serialize(results, ProtocolJson.Api)); return 0; }
                output.WriteLine($"run {results.RunId}: {results.State}");
                foreach (var round in results.Rounds)
                {
                    output.WriteLine($"round {round.Round}: {round.State}{(round.Error is null ? "" : ": " + round.Error)}");
                    if (round.Pooled is not null) PooledView.Write(round.Pooled, output, terminal);
                }
                return results.State == RunStates.Failed ? 1 : 0;
            }
            case "prov":
            {
                var id = RunId(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                output.WriteLine((await hub.GetProvenanceAsync(id)).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            case "list":
            {
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                RunList(await hub.ListRunsAsync()).Write(output, terminal);
                return 0;
            }
            default:
                throw new UsageException($"unknown command 'run {verb}'; try: run start|show|watch|results|prov|list");
        }
    }

    /// <summary>The runs as <c>run list</c> shows them.</summary>
    public static TextTable RunList(IEnumerable<RunInfo> runs)
    {
        var table = new TextTable(
        [
            new TextColumn("run") { Align = 6 },
            new TextColumn("state") { Before = "  ", Align = -10, Style = StateStyles.For },
            new TextColumn("train") { Before = " ", Align = -40 },
            new TextColumn("jobs succeeded") { Before = " ", After = " jobs succeeded" },
        ]);
        foreach (var run in runs)
            table.Add(Cell(run.Id), run.State, run.Train, $"{run.Jobs.Count(j => j.State == JobStates.Succeeded)}/{run.Jobs.Count}");
        return table;
    }

    /// <summary>A job's state as <c>run watch</c> prints each change: round, station, state and error.</summary>
    public static readonly TextColumn[] JobStateColumns =
    [
        new("round") { Before = "  round " },
        new("station") { Before = " ", Align = -16 },
        new("state") { Before = " ", Style = StateStyles.For },
        new("error") { Before = ": ", OmitEmpty = true },
    ];

    public static string[] JobStateCells(JobInfo job) => [Cell(job.Round), job.Station, job.State, job.Error ?? ""];

    /// <summary>
    /// Follows a run until it ends; exit code 1 if the run failed. Plain: a line per job change. On a terminal: a live
    /// table of each round's jobs by state and each station's job.
    /// </summary>
    public static async Task<int> WatchAsync(HubApiClient hub, long id, TextWriter output, IAnsiConsole? terminal = null)
    {
        RunInfo run;
        if (terminal is null)
        {
            var seen = new Dictionary<long, string>();
            var changes = new TextTable(JobStateColumns);
            run = await hub.WaitForRunAsync(id, r =>
            {
                foreach (var job in r.Jobs)
                {
                    if (seen.TryGetValue(job.Id, out var state) && state == job.State) continue;
                    seen[job.Id] = job.State;
                    output.WriteLine(changes.PlainLine(JobStateCells(job)));
                }
            }, TimeSpan.FromHours(24));
        }
        else
        {
            run = await terminal.Live(new Text($"run {id}: asking the hub…")).AutoClear(false).StartAsync(async live =>
            {
                var last = await hub.WaitForRunAsync(id, r => live.UpdateTarget(RunProgress.Render(r)), TimeSpan.FromHours(24));
                live.UpdateTarget(RunProgress.Render(last));
                return last;
            });
        }
        output.WriteLine($"run {run.Id} {run.State}");
        return run.State == RunStates.Completed ? 0 : 1;
    }

    /// <summary>A job as <c>run show</c> lists it: id, round, station, state, time taken and result digest.</summary>
    private static readonly TextColumn[] JobColumns =
    [
        new("job") { Before = "  job " },
        new("round") { Before = " round " },
        new("station") { Before = " ", Align = -16 },
        new("state") { Before = " ", Style = StateStyles.For },
        new("time") { Before = "  (", After = ")", OmitEmpty = true },
        new("result") { Before = "  result ", OmitEmpty = true },
    ];

    private static string[] JobCells(JobInfo job) =>
    [
        Cell(job.Id), Cell(job.Round), job.Station, job.State,
        job.Timings is { } t ? $"{t.TotalMs} ms, train {t.RunMs} ms" : "",
        job.ResultDigest is null ? "" : $"{job.ResultDigest[..19]}…",
    ];

    /// <summary>What <c>run show</c> adds under a job: its inputs, error, exit code and the end of its log.</summary>
    private static IEnumerable<string> JobDetails(JobInfo job)
    {
        foreach (var input in job.Inputs ?? [])
            yield return $"input {input.Name}: {input.Rows} rows of {input.ResourceType} ({input.Kind}: {string.Join(", ", input.Columns)})";
        if (job.Error is not null) yield return $"error: {job.Error}";
        if (job.ExitCode is not null) yield return $"exit code: {job.ExitCode}";
        if (!string.IsNullOrEmpty(job.LogTail))
            foreach (var line in job.LogTail.Split('\n').TakeLast(10)) yield return "| " + line;
    }

    private static IEnumerable<string> RunHeader(RunInfo run) =>
    [
        $"run {run.Id}: {run.Train}, {run.State}, round {run.CurrentRound} of {run.Rounds}, by {run.Owner}",
        $"parameters: {run.Parameters.ToJsonString()}",
    ];

    public static string Describe(RunInfo run)
    {
        var lines = RunHeader(run).ToList();
        var jobs = new TextTable(JobColumns);
        foreach (var job in run.Jobs)
        {
            lines.Add(jobs.PlainLine(JobCells(job)));
            lines.AddRange(JobDetails(job).Select(d => "      " + d));
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary><see cref="Describe"/> for a terminal: the same header, the jobs as a table, each job's details in a panel.</summary>
    public static Spectre.Console.Rendering.IRenderable DescribeRich(RunInfo run)
    {
        var jobs = new TextTable(JobColumns);
        foreach (var job in run.Jobs) jobs.Add(JobCells(job));
        var parts = new List<Spectre.Console.Rendering.IRenderable> { new Text(string.Join("\n", RunHeader(run))), jobs.ToRenderable() };
        foreach (var job in run.Jobs)
        {
            var details = JobDetails(job).ToList();
            if (details.Count > 0) parts.Add(new Panel(new Text(string.Join("\n", details))).Header(Markup.Escape($"job {job.Id} at {job.Station}")).Expand());
        }
        return new Rows(parts);
    }

    private static string Cell(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Training settings from <c>--strategy NAME [--mu X] [--server-lr X] [--beta1 X] [--beta2 X] [--tau X] [--trim X]
    /// [--norm-bound] [--min-stations N] [--min-fraction F] [--deadline SECONDS] [--seed N]</c>; null when none is given (the hub's defaults).
    /// </summary>
    internal static TrainingSettings? TrainingFrom(CliArgs args)
    {
        double? Number(string name) => args.Option(name) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : null;
        int? Integer(string name) => args.Option(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null;
        var strategy = args.Option("strategy");
        var settings = new TrainingSettings
        {
            Strategy = strategy ?? "fedavg",
            ProximalMu = Number("mu"),
            ServerLearningRate = Number("server-lr"),
            Beta1 = Number("beta1"),
            Beta2 = Number("beta2"),
            Tau = Number("tau"),
            TrimFraction = Number("trim"),
            NormBound = args.Flag("norm-bound") ? true : null,
            MinStations = Integer("min-stations"),
            MinFraction = Number("min-fraction"),
            RoundDeadlineSeconds = Integer("deadline"),
            Seed = args.Option("seed") is { } seed ? long.Parse(seed, CultureInfo.InvariantCulture) : 42,
        };
        return settings == new TrainingSettings() && strategy is null ? null : settings;
    }

    private static long RunId(CliArgs args)
    {
        var text = args.Required(1, "run id");
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : throw new UsageException($"'{text}' is not a run id");
    }

    /// <summary>A train id, or <c>name:version</c> looked up among the caller's trains.</summary>
    public static async Task<long> ResolveTrainAsync(HubApiClient hub, string train)
    {
        if (long.TryParse(train, NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return id;
        var colon = train.LastIndexOf(':');
        if (colon <= 0) throw new UsageException($"'{train}' is neither a train id nor name:version");
        var (name, version) = (train[..colon], train[(colon + 1)..]);
        var matches = (await hub.ListTrainsAsync()).Where(t => (t.Name == name || t.Repository == name) && t.Version == version).ToList();
        return matches.Count switch
        {
            1 => matches[0].Id,
            0 => throw new UsageException($"no train {train} at the hub; push it first"),
            _ => throw new UsageException($"{train} is ambiguous: use one of the ids {string.Join(", ", matches.Select(m => m.Id))}"),
        };
    }

    /// <summary><c>--param name=value</c>: the value is JSON when it parses as JSON, else a string.</summary>
    public static Dictionary<string, JsonElement> ParseParameters(IEnumerable<string> items)
    {
        var result = new Dictionary<string, JsonElement>();
        foreach (var item in items)
        {
            var eq = item.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--param '{item}' should be name=value");
            var value = item[(eq + 1)..];
            JsonElement element;
            try { element = JsonSerializer.Deserialize<JsonElement>(value); }
            catch (JsonException) { element = JsonSerializer.SerializeToElement(value); }
            result[item[..eq]] = element;
        }
        return result;
    }
}
