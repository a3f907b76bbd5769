using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Output;
using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;
using Spectre.Console.Testing;

namespace HealthTrain.Trains.Tests.Cli;

/// <summary>On an interactive terminal the same data renders as Spectre tables, live run status and progress bars.</summary>
public sealed class RichOutputTests
{
    private static TestConsole Console() => new TestConsole().Width(220);

    [Fact]
    public void A_table_renders_headers_and_trimmed_cells_and_nothing_plain()
    {
        var table = new TextTable([new TextColumn("result") { Before = "  " }, new TextColumn("check") { Before = "  ", Align = -17 }]);
        table.Add("ok  ", "signature").Add("FAIL", "user");
        var console = Console();
        var plain = new StringWriter();

        table.Write(plain, console);

        Assert.Equal("", plain.ToString());
        var lines = console.Lines;
        Assert.Contains(lines, l => l.Contains("result") && l.Contains("check"));
        Assert.Contains(lines, l => l.Contains("ok") && l.Contains("signature"));
        Assert.Contains(lines, l => l.Contains("FAIL") && l.Contains("user"));
    }

    [Fact]
    public void A_row_with_the_wrong_number_of_cells_is_refused()
    {
        var table = new TextTable([new TextColumn("a"), new TextColumn("b")]);
        var error = Assert.Throws<ArgumentException>(() => table.Add("only one"));
        Assert.Contains("2 cells, not 1", error.Message);
    }

    [Fact]
    public void An_empty_list_prints_its_empty_text_on_a_terminal_too()
    {
        var console = Console();
        ModelCommands.ModelList([]).Write(new StringWriter(), console);
        Assert.Contains("no model versions yet", console.Output);
    }

    [Fact]
    public void Failed_states_are_red_and_succeeded_green()
    {
        var console = Console().EmitAnsiSequences().Colors(Spectre.Console.ColorSystem.Standard);
        RunCommands.RunList([CliSamples.Run(1, RunStates.Failed), CliSamples.Run(2, RunStates.Completed)]).Write(new StringWriter(), console);
        var output = console.Output;
        Assert.Matches(@"\u001b\[(?:\d+;)*91m\s*failed", output);
        Assert.Matches(@"\u001b\[(?:\d+;)*32m\s*completed", output);
    }

    [Fact]
    public void Round_progress_counts_each_rounds_jobs_by_state()
    {
        var run = CliSamples.Run(9, RunStates.Running,
            CliSamples.Job(1, 1, "a", JobStates.Succeeded), CliSamples.Job(2, 1, "b", JobStates.Failed),
            CliSamples.Job(3, 2, "a", JobStates.Queued), CliSamples.Job(4, 2, "b", JobStates.AwaitingApproval),
            CliSamples.Job(5, 2, "c", JobStates.Claimed), CliSamples.Job(6, 2, "d", JobStates.Running));

        Assert.Equal(
            [new RoundProgress(1, 0, 0, 0, 1, 1), new RoundProgress(2, 1, 1, 2, 0, 0)],
            RunProgress.Summarize(run));
        Assert.Equal("█████░░░░░ 2/4", RunProgress.Bar(2, 4, 10));
        Assert.Equal("░░░░ 0/0", RunProgress.Bar(0, 0, 4));

        var console = Console();
        console.Write(RunProgress.Render(run));
        Assert.Contains("run 9: cohort-stats:1.1.0, running, round 2 of 2", console.Output);
        Assert.Contains(console.Lines, l => l.Contains("awaiting approval") && l.Contains("queued"));
        Assert.Contains(console.Lines, l => l.Contains("██████████ 2/2"));
        Assert.Contains(console.Lines, l => l.Contains("awaiting-approval") && l.Contains('b'));
    }

    [Fact]
    public async Task Run_watch_on_a_terminal_shows_live_progress_and_ends_with_the_outcome()
    {
        RunInfo[] polls =
        [
            CliSamples.Run(7, RunStates.Running, CliSamples.Job(1, 1, "hospital-a", JobStates.Running), CliSamples.Job(2, 1, "hospital-b", JobStates.AwaitingApproval)),
            CliSamples.Run(7, RunStates.Completed, CliSamples.Job(1, 1, "hospital-a", JobStates.Succeeded), CliSamples.Job(2, 1, "hospital-b", JobStates.Succeeded)),
        ];
        var served = 0;
        using var hub = new FakeHub(path => path == "/api/runs/7" ? polls[Math.Min(Interlocked.Increment(ref served), polls.Length) - 1] : null);
        var console = Console().Interactive();
        var output = new StringWriter();

        var code = await RunCommands.RunAsync("watch", new CliArgs(["watch", "7", .. hub.Options]), output, console);

        Assert.Equal(0, code);
        Assert.Equal("run 7 completed" + Environment.NewLine, output.ToString());
        Assert.Contains("run 7: cohort-stats:1.1.0, completed", console.Output);
        Assert.Contains("██████████ 2/2", console.Output);
        Assert.DoesNotContain("  round 1 hospital-a", console.Output);
    }

    [Fact]
    public async Task List_commands_write_a_table_to_the_terminal_instead_of_lines()
    {
        using var hub = new FakeHub(path => path switch
        {
            "/api/keys" => new List<KeyInfo> { CliSamples.Key("alice", null), CliSamples.Key("bob", CliSamples.At) },
            "/api/models" => new List<ModelVersionInfo> { CliSamples.Model(3, 1, new Dictionary<string, double> { ["auc"] = 0.75 }) },
            _ => null,
        });
        var keys = Console();
        var plain = new StringWriter();
        Assert.Equal(0, await KeyCommands.RunAsync(new CliArgs(["list", .. hub.Options]), plain, keys));
        Assert.Contains(keys.Lines, l => l.Contains("key id") && l.Contains("owner") && l.Contains("revoked"));
        Assert.Contains(keys.Lines, l => l.Contains("bob") && l.Contains("2026-03-01 09:30") && !l.Contains("REVOKED"));

        var models = Console();
        Assert.Equal(0, await ModelCommands.RunAsync(new CliArgs(["list", .. hub.Options], "json"), plain, models));
        Assert.Contains(models.Lines, l => l.Contains("fedavg") && l.Contains("auc 0.75") && l.Contains("512"));
        Assert.Equal("", plain.ToString());
    }

    [Fact]
    public void Run_show_on_a_terminal_has_a_job_table_and_a_panel_per_job_with_details()
    {
        var console = Console();
        console.Write(RunCommands.DescribeRich(CliSamples.Finished()));
        var output = console.Output;
        Assert.Contains("run 7: cohort-stats:1.1.0, completed, round 2 of 2, by alice", output);
        Assert.Contains(console.Lines, l => l.Contains("hospital-a") && l.Contains("1830 ms, train 912 ms") && l.Contains(CliSamples.Digest[..19] + "…"));
        Assert.Contains("job 22 at hospital-b", output);
        Assert.Contains("exit code: 3", output);
        Assert.Contains("| no data", output);
        Assert.DoesNotContain("job 23 at", output);
    }

    [Fact]
    public void Pooled_statistics_are_the_plain_table_in_a_panel()
    {
        var pooled = new PooledStatistics
        {
            Stations = ["a", "b"],
            Statistics = [new() { Name = "patients", Kind = "count", Stations = 2, Value = 526 }, new() { Name = "bmi", Kind = "mean", Unit = "kg/m2", Stations = 2, N = 40, Mean = 25.5 }],
        };
        var console = Console();
        PooledView.Write(pooled, new StringWriter(), console);
        Assert.Contains("pooled statistics", console.Output);
        foreach (var line in PooledTable.Render(pooled).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries))
            Assert.Contains(console.Lines, l => l.Contains(line));

        var plain = new StringWriter();
        PooledView.Write(pooled, plain, null);
        Assert.Equal(PooledTable.Render(pooled) + Environment.NewLine, plain.ToString());
    }

    [Fact]
    public async Task Build_steps_are_lines_without_a_terminal_and_above_a_spinner_with_one()
    {
        static async Task<int> Build(IProgress<string> progress)
        {
            progress.Report("publish: dotnet publish -c Release");
            await Task.Yield();
            progress.Report("train layer: 12 files, 40.5 KiB");
            return 7;
        }

        var plain = new StringWriter();
        Assert.Equal(7, await WorkProgress.StepsAsync(plain, null, "building cohort-stats", Build));
        Assert.Equal("publish: dotnet publish -c Release" + Environment.NewLine + "train layer: 12 files, 40.5 KiB" + Environment.NewLine, plain.ToString());

        var console = Console().Interactive();
        var quiet = new StringWriter();
        Assert.Equal(7, await WorkProgress.StepsAsync(quiet, console, "building cohort-stats", Build));
        Assert.Equal("", quiet.ToString());
        Assert.Contains("publish: dotnet publish -c Release", console.Output);
        Assert.Contains("train layer: 12 files, 40.5 KiB", console.Output);
    }

    [Fact]
    public async Task Push_shows_a_byte_bar_per_layer_on_a_terminal_and_only_the_step_lines_without()
    {
        static Task<string> Push(Action<string> step, IProgress<LayerUpload>? uploads)
        {
            uploads?.Report(new LayerUpload("3f4e5d6c7b8a", 1024, 4096, false));
            uploads?.Report(new LayerUpload("3f4e5d6c7b8a", 4096, 4096, true));
            uploads?.Report(new LayerUpload("0a1b2c3d4e5f", 0, 0, true));
            step("  3f4e5d6c7b8a: Pushed");
            step("  0a1b2c3d4e5f: Layer already exists");
            return Task.FromResult("sha256:abc");
        }

        var plain = new StringWriter();
        Assert.Equal("sha256:abc", await WorkProgress.UploadAsync(plain, null, Push));
        Assert.Equal("  3f4e5d6c7b8a: Pushed" + Environment.NewLine + "  0a1b2c3d4e5f: Layer already exists" + Environment.NewLine, plain.ToString());

        var console = Console().Interactive();
        Assert.Equal("sha256:abc", await WorkProgress.UploadAsync(new StringWriter(), console, Push));
        Assert.Contains(console.Lines, l => l.Contains("layer 3f4e5d6c7b8a") && l.Contains("100%") && l.Contains("4.0 KiB"));
        // A layer the registry already had sent no bytes: its step line says so, a bar would not.
        Assert.DoesNotContain("layer 0a1b2c3d4e5f", console.Output);
        Assert.Contains("0a1b2c3d4e5f: Layer already exists", console.Output);
    }

    [Fact]
    public void Plain_is_a_global_option_that_forces_plain_text()
    {
        var (args, plain) = Terminal.TakePlainOption(["run", "list", "--plain", "--hub", "http://h"]);
        Assert.True(plain);
        Assert.Equal(["run", "list", "--hub", "http://h"], args);
        Assert.False(Terminal.TakePlainOption(["run", "list"]).Plain);
        Assert.Null(Terminal.Detect(plain: true));
    }
}
