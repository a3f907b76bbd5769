using System.Globalization;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace HealthTrain.Cli.Runs;

/// <summary>How many of a round's jobs are in each state.</summary>
public sealed record RoundProgress(int Round, int Queued, int AwaitingApproval, int Running, int Done, int Failed)
{
    public int Total => Queued + AwaitingApproval + Running + Done + Failed;
}

/// <summary>The live view of <c>run watch</c> on a terminal: per round, jobs by state; per station, its job's state.</summary>
public static class RunProgress
{
    /// <summary>Counts each round's jobs by state; a claimed job counts as running (its station has it).</summary>
    public static IReadOnlyList<RoundProgress> Summarize(RunInfo run) =>
        run.Jobs.GroupBy(j => j.Round).OrderBy(g => g.Key).Select(g => new RoundProgress(g.Key,
            Queued: g.Count(j => j.State == JobStates.Queued),
            AwaitingApproval: g.Count(j => j.State == JobStates.AwaitingApproval),
            Running: g.Count(j => j.State is JobStates.Running or JobStates.Claimed),
            Done: g.Count(j => j.State == JobStates.Succeeded),
            Failed: g.Count(j => j.State == JobStates.Failed))).ToList();

    /// <summary>The run's state, a table of rounds with a bar of finished jobs, and the jobs as <c>run watch</c> lists them.</summary>
    public static IRenderable Render(RunInfo run)
    {
        var rounds = new Table().Border(TableBorder.Rounded)
            .AddColumns("round", "queued", "awaiting approval", "running", "done", "failed", "finished");
        foreach (var column in rounds.Columns.Skip(1).Take(5)) column.RightAligned();
        foreach (var r in Summarize(run))
        {
            rounds.AddRow(
                new Text(Number(r.Round)), new Text(Number(r.Queued)), new Text(Number(r.AwaitingApproval)),
                new Text(Number(r.Running), r.Running > 0 ? new Style(Color.Yellow) : Style.Plain),
                new Text(Number(r.Done), r.Done > 0 ? new Style(Color.Green) : Style.Plain),
                new Text(Number(r.Failed), r.Failed > 0 ? new Style(Color.Red) : Style.Plain),
                new Text(Bar(r.Done + r.Failed, r.Total, 10)));
        }
        var jobs = new TextTable(RunCommands.JobStateColumns);
        foreach (var job in run.Jobs.OrderBy(j => j.Round).ThenBy(j => j.Station, StringComparer.Ordinal))
            jobs.Add(RunCommands.JobStateCells(job));
        var header = new Text($"run {run.Id}: {run.Train}, {run.State}, round {run.CurrentRound} of {run.Rounds}",
            new Style(StateStyles.For(run.State) is { } s ? Style.Parse(s).Foreground : Color.Default));
        return new Rows(header, rounds, jobs.ToRenderable());
    }

    /// <summary>A text bar of <paramref name="done"/> out of <paramref name="total"/>, <paramref name="width"/> cells wide.</summary>
    public static string Bar(int done, int total, int width)
    {
        var filled = total == 0 ? 0 : (int)Math.Round(width * (double)done / total);
        return new string('█', filled) + new string('░', width - filled) + $" {done}/{total}";
    }

    private static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);
}
