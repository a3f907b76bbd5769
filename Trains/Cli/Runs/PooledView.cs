using HealthTrain.Trains.Protocol;
using Spectre.Console;

namespace HealthTrain.Cli.Runs;

/// <summary>Pooled statistics for the terminal: <see cref="PooledTable"/>'s text as is, framed in a panel on a rich terminal.</summary>
public static class PooledView
{
    /// <summary>The plain table to <paramref name="output"/>, or the same text in a panel to <paramref name="terminal"/>.</summary>
    public static void Write(PooledStatistics pooled, TextWriter output, IAnsiConsole? terminal)
    {
        var text = PooledTable.Render(pooled);
        if (terminal is null) output.WriteLine(text);
        else terminal.Write(new Panel(new Text(text.TrimEnd())).Header("pooled statistics").Border(BoxBorder.Rounded));
    }
}
