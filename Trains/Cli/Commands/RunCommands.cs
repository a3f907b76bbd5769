using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain run start|show|watch|results|list</c>.</summary>
public static class RunCommands
{
    public static async Task<int> RunAsync(string verb, CliArgs args, TextWriter output)
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
                if (watch) return await WatchAsync(hub, run.Id, output);
                return 0;
            }
            case "show":
            {
                var id = RunId(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                var json = args.Flag("json");
                args.RejectUnknown();
                var run = await hub.GetRunAsync(id);
                output.WriteLine(json ? JsonSerializer.Serialize(run, ProtocolJson.Api) : Describe(run));
                return 0;
            }
            case "watch":
            {
                var id = RunId(args);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                return await WatchAsync(hub, id, output);
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
                    if (round.Pooled is not null) output.WriteLine(PooledTable.Render(round.Pooled));
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
                foreach (var run in await hub.ListRunsAsync())
                    output.WriteLine($"{run.Id,6}  {run.State,-10} {run.Train,-40} {run.Jobs.Count(j => j.State == JobStates.Succeeded)}/{run.Jobs.Count} jobs succeeded");
                return 0;
            }
            default:
                throw new UsageException($"unknown command 'run {verb}'; try: run start|show|watch|results|prov|list");
        }
    }

    /// <summary>Follows a run until it ends, printing each job change; exit code 1 if the run failed.</summary>
    public static async Task<int> WatchAsync(HubApiClient hub, long id, TextWriter output)
    {
        var seen = new Dictionary<long, string>();
        var run = await hub.WaitForRunAsync(id, r =>
        {
            foreach (var job in r.Jobs)
            {
                if (seen.TryGetValue(job.Id, out var state) && state == job.State) continue;
                seen[job.Id] = job.State;
                output.WriteLine($"  round {job.Round} {job.Station,-16} {job.State}{(job.Error is null ? "" : ": " + job.Error)}");
            }
        }, TimeSpan.FromHours(24));
        output.WriteLine($"run {run.Id} {run.State}");
        return run.State == RunStates.Completed ? 0 : 1;
    }

    public static string Describe(RunInfo run)
    {
        var lines = new List<string>
        {
            $"run {run.Id}: {run.Train}, {run.State}, round {run.CurrentRound} of {run.Rounds}, by {run.Owner}",
            $"parameters: {run.Parameters.ToJsonString()}",
        };
        foreach (var job in run.Jobs)
        {
            lines.Add($"  job {job.Id} round {job.Round} {job.Station,-16} {job.State}" +
                (job.Timings is { } t ? $"  ({t.TotalMs} ms, train {t.RunMs} ms)" : "") +
                (job.ResultDigest is null ? "" : $"  result {job.ResultDigest[..19]}…"));
            foreach (var input in job.Inputs ?? [])
                lines.Add($"      input {input.Name}: {input.Rows} rows of {input.ResourceType} ({input.Kind}: {string.Join(", ", input.Columns)})");
            if (job.Error is not null) lines.Add($"      error: {job.Error}");
            if (job.ExitCode is not null) lines.Add($"      exit code: {job.ExitCode}");
            if (!string.IsNullOrEmpty(job.LogTail))
                lines.AddRange(job.LogTail.Split('\n').TakeLast(10).Select(l => "      | " + l));
        }
        return string.Join(Environment.NewLine, lines);
    }

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
