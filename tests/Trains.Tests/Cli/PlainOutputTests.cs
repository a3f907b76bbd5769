using System.Globalization;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Cli;

/// <summary>
/// Without a terminal the CLI prints exactly what it printed before the tables: scripts and the end-to-end tests read
/// these lines. Each expected text comes from the format the command used before, kept here verbatim.
/// </summary>
public sealed class PlainOutputTests
{
    private static string Lines(IEnumerable<string> lines) => string.Concat(lines.Select(l => l + Environment.NewLine));

    private static string Plain(HealthTrain.Cli.Output.TextTable table)
    {
        var output = new StringWriter();
        table.Write(output, terminal: null);
        return output.ToString();
    }

    [Fact]
    public void Run_list_lines_are_unchanged()
    {
        RunInfo[] runs = [CliSamples.Finished(), CliSamples.Run(12345678, RunStates.Running)];
        var before = Lines(runs.Select(run =>
            $"{run.Id,6}  {run.State,-10} {run.Train,-40} {run.Jobs.Count(j => j.State == JobStates.Succeeded)}/{run.Jobs.Count} jobs succeeded"));
        Assert.Equal(before, Plain(RunCommands.RunList(runs)));
    }

    [Fact]
    public void Model_list_lines_are_unchanged_with_and_without_metrics()
    {
        ModelVersionInfo[] versions =
        [
            CliSamples.Model(3, 1, new Dictionary<string, double>()),
            CliSamples.Model(12345, 10, new Dictionary<string, double> { ["loss"] = 0.123456, ["auc"] = 0.9, ["acc"] = 0.8, ["f1"] = 0.7 }),
        ];
        static string Metrics(IReadOnlyDictionary<string, double> metrics, int most) =>
            metrics.Count == 0 ? "" : ", " + string.Join(", ", metrics.Take(most).Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
        var before = Lines(versions.Select(v =>
            $"run {v.RunId,-4} round {v.Round,-3} {v.Digest}  {v.Strategy,-12} {v.Contributors.Count} station(s), {v.Samples} samples{Metrics(v.Metrics, 3)}"));
        Assert.Equal(before, Plain(ModelCommands.ModelList(versions)));
        Assert.Equal("no model versions yet" + Environment.NewLine, Plain(ModelCommands.ModelList([])));
    }

    [Fact]
    public void Key_list_lines_are_unchanged_for_live_and_revoked_keys()
    {
        KeyInfo[] keys = [CliSamples.Key("alice", null), CliSamples.Key("a-researcher-with-a-long-name", CliSamples.At.AddDays(2))];
        var before = Lines(keys.Select(key =>
            $"{key.KeyId}  {key.Owner,-16} added {key.AddedAt:yyyy-MM-dd HH:mm}{(key.RevokedAt is null ? "" : $"  REVOKED {key.RevokedAt:yyyy-MM-dd HH:mm}")}"));
        Assert.Equal(before, Plain(KeyCommands.KeyList(keys)));
    }

    [Fact]
    public void Approval_list_lines_are_unchanged_for_waiting_and_decided_images()
    {
        ApprovalInfo[] list = [CliSamples.Approval("pending", null, 4, 5), CliSamples.Approval("approved", "operator")];
        var before = Lines(list.Select(a =>
            $"{a.State,-9} {a.Digest}  {a.Repository}:{a.Version} ({a.Kind}) by {a.Author}"
            + (a.DecidedBy is null ? $", waiting since {a.RequestedAt:yyyy-MM-dd HH:mm}" : $", {a.DecidedBy} {a.DecidedAt:yyyy-MM-dd HH:mm}")
            + (a.WaitingJobs.Count > 0 ? $", {a.WaitingJobs.Count} job(s) waiting" : "")));
        Assert.Equal(before, Plain(ApprovalCommands.ApprovalList(list, null)));
        Assert.Equal("nothing inspected yet" + Environment.NewLine, Plain(ApprovalCommands.ApprovalList([], null)));
        Assert.Equal("no rejected images" + Environment.NewLine, Plain(ApprovalCommands.ApprovalList([], "rejected")));
    }

    [Fact]
    public void Approval_report_signer_and_layer_lines_are_unchanged()
    {
        ImageSigner[] signers = [new("9f8e7d6c5b4a39281706f5e4d3c2b1a0", ImageSigner.HubRole, "hub"), new("a1b2c3d4e5f60718293a4b5c6d7e8f90", ImageSigner.AuthorRole, "alice")];
        ImageLayerInfo[] layers = [new(CliSamples.Digest, 31_457_280, "application/vnd.oci.image.layer.v1.tar+gzip"), new(CliSamples.Digest, 512, "")];
        Assert.Equal(Lines(signers.Select(s => $"  signed:   {s.Role,-7} {s.Name,-16} key {s.KeyId}")), Plain(ApprovalCommands.Signers(signers)));
        Assert.Equal(Lines(layers.Select(l => $"            {l.Digest[..19]}…  {l.Size / 1024.0,10:0.#} KiB")), Plain(ApprovalCommands.Layers(layers)));
    }

    [Fact]
    public void Train_list_and_check_lines_are_unchanged()
    {
        var t = new TrainInfo(42, "alice", "alice/cohort-stats", "cohort-stats", "1.1.0", CliSamples.Digest, "statistics", null!, CliSamples.At)
        {
            State = TrainStates.Submitted,
            Checks = [new TrainCheck("manifest", true, "valid"), new TrainCheck("signature", false, "no signature by a registered key")],
        };
        Assert.Equal(Lines([$"{t.Id,5}  {t.Repository + ":" + t.Version,-36} {t.Kind,-10} {t.State,-10} {t.Digest[..19]}…  {t.SubmittedAt:yyyy-MM-dd HH:mm}"]),
            Plain(ImageCommands.TrainList([t])));
        Assert.Equal(Lines(t.Checks.Select(check => $"  {(check.Passed ? "ok  " : "FAIL")}  {check.Name,-17} {check.Detail}")),
            Plain(ImageCommands.Checks(t.Checks)));
    }

    [Fact]
    public void Run_show_text_is_unchanged()
    {
        var run = CliSamples.Finished();
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
        Assert.Equal(string.Join(Environment.NewLine, lines), RunCommands.Describe(run));
    }

    [Fact]
    public async Task Run_watch_prints_each_job_change_then_the_outcome()
    {
        // The hub answers three polls: queued, one running with one waiting for approval, both finished.
        RunInfo[] polls =
        [
            CliSamples.Run(7, RunStates.Running, CliSamples.Job(1, 1, "hospital-a", JobStates.Queued), CliSamples.Job(2, 1, "hospital-b", JobStates.Queued)),
            CliSamples.Run(7, RunStates.Running, CliSamples.Job(1, 1, "hospital-a", JobStates.Running), CliSamples.Job(2, 1, "hospital-b", JobStates.AwaitingApproval)),
            CliSamples.Run(7, RunStates.Failed, CliSamples.Job(1, 1, "hospital-a", JobStates.Succeeded), CliSamples.Job(2, 1, "hospital-b", JobStates.Failed, "rejected by the operator")),
        ];
        var served = 0;
        using var hub = new FakeHub(path => path == "/api/runs/7" ? polls[Math.Min(Interlocked.Increment(ref served), polls.Length) - 1] : null);
        var output = new StringWriter();

        var code = await RunCommands.RunAsync("watch", new CliArgs(["watch", "7", .. hub.Options]), output);

        var before = new List<string>();
        var seen = new Dictionary<long, string>();
        foreach (var job in polls.SelectMany(p => p.Jobs))
        {
            if (seen.TryGetValue(job.Id, out var state) && state == job.State) continue;
            seen[job.Id] = job.State;
            before.Add($"  round {job.Round} {job.Station,-16} {job.State}{(job.Error is null ? "" : ": " + job.Error)}");
        }
        before.Add("run 7 failed");
        Assert.Equal(Lines(before), output.ToString());
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Run_list_and_results_through_the_command_print_plain_lines()
    {
        var pooled = new PooledStatistics { Stations = ["hospital-a"], Statistics = [new() { Name = "patients", Kind = "count", Stations = 1, Value = 412 }] };
        using var hub = new FakeHub(path => path switch
        {
            "/api/runs" => new List<RunInfo> { CliSamples.Finished() },
            "/api/runs/7/results" => new RunResults(7, RunStates.Completed, [new RoundResult(1, RoundStates.Completed, pooled)]),
            _ => null,
        });
        var list = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("list", new CliArgs(["list", .. hub.Options]), list));
        Assert.Equal($"     7  completed  {"cohort-stats:1.1.0",-40} 1/3 jobs succeeded" + Environment.NewLine, list.ToString());

        var results = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("results", new CliArgs(["results", "7", .. hub.Options], "json"), results));
        Assert.Equal(Lines(["run 7: completed", "round 1: completed", PooledTable.Render(pooled)]), results.ToString());
    }

    [Fact]
    public async Task Model_show_prints_the_same_lines_as_before()
    {
        var v = CliSamples.Model(3, 2, new Dictionary<string, double> { ["val_loss"] = 0.3141592 });
        using var hub = new FakeHub(path => path == "/api/models/3/2" ? v : null);
        var output = new StringWriter();
        Assert.Equal(0, await ModelCommands.RunAsync(new CliArgs(["show", "3/2", .. hub.Options], "json"), output));

        static string Metrics(IReadOnlyDictionary<string, double> metrics, int most) =>
            metrics.Count == 0 ? "" : ", " + string.Join(", ", metrics.Take(most).Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
        var before = new List<string>
        {
            $"model {v.Digest}",
            $"  train:    {v.Train}, run {v.RunId}, round {v.Round}, merged {v.CreatedAt:yyyy-MM-dd HH:mm:ss} with {v.Strategy}",
            $"  parent:   {v.ParentDigest ?? "none (the seeded start)"}",
            $"  samples:  {v.Samples}",
        };
        foreach (var (name, value) in v.Metrics) before.Add($"  {name,-24} {value.ToString("G6", CultureInfo.InvariantCulture)}");
        before.Add("  contributors:");
        foreach (var c in v.Contributors)
            before.Add($"    {c.Station,-20} job {c.JobId,-6} update {c.UpdateDigest}  {c.Samples} samples{Metrics(c.Metrics, 2)}");
        Assert.Equal(Lines(before), output.ToString());
    }
}
