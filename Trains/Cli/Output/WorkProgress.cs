using HealthTrain.Cli.Hub;
using Spectre.Console;

namespace HealthTrain.Cli.Output;

/// <summary>
/// Long work (image builds, pushes) as the user sees it: plain step lines, or on a terminal a spinner with the current
/// step and byte bars for layer uploads. The work reports the same step texts either way.
/// </summary>
public static class WorkProgress
{
    /// <summary>
    /// Runs <paramref name="work"/>, which reports its steps as lines. Plain: each line to <paramref name="output"/>.
    /// Terminal: each line above a spinner that shows <paramref name="title"/> and the latest step.
    /// </summary>
    public static async Task<T> StepsAsync<T>(TextWriter output, IAnsiConsole? terminal, string title, Func<IProgress<string>, Task<T>> work)
    {
        if (terminal is null) return await work(new ImmediateProgress<string>(output.WriteLine));
        // Builders may report from parallel steps; one line at a time keeps the lines whole.
        var gate = new object();
        return await terminal.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(title), async status =>
            await work(new ImmediateProgress<string>(step =>
            {
                lock (gate)
                {
                    terminal.Write(new Text(step + "\n", new Style(Color.Grey)));
                    status.Status(Markup.Escape($"{title}: {step.Trim()}"));
                }
            })));
    }

    /// <summary>
    /// Runs a push that reports step lines and layer uploads. Plain: the step lines only, as before. Terminal: one bar per
    /// layer with bytes sent, the step lines above them.
    /// </summary>
    public static async Task<T> UploadAsync<T>(TextWriter output, IAnsiConsole? terminal, Func<Action<string>, IProgress<LayerUpload>?, Task<T>> work)
    {
        if (terminal is null) return await work(output.WriteLine, null);
        return await terminal.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var bars = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                // Docker reports from its stream reader; a lock keeps the bar dictionary consistent.
                var gate = new object();
                var uploads = new ImmediateProgress<LayerUpload>(u =>
                {
                    lock (gate)
                    {
                        if (!bars.TryGetValue(u.Layer, out var bar))
                        {
                            // A layer the registry already has sends nothing: its step line says so, an empty bar would not.
                            if (u.Total == 0) return;
                            bars[u.Layer] = bar = context.AddTask(Markup.Escape($"layer {u.Layer}"), maxValue: u.Total);
                        }
                        if (u.Total > 0) bar.MaxValue = u.Total;
                        bar.Value = u.Finished ? bar.MaxValue : u.Sent;
                        if (u.Finished) bar.StopTask();
                    }
                });
                return await work(line => { lock (gate) terminal.Write(new Text(line + "\n", new Style(Color.Grey))); }, uploads);
            });
    }
}
