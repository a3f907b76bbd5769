using HealthTrain.Station.Ingestion;
using HealthTrain.Station.Views;

namespace HealthTrain.Station;

/// <summary>The station executable's command-line verbs; with no known verb first, the station starts its web host as before.</summary>
public static class StationCommands
{
    /// <summary>Runs the verb named by <paramref name="args"/>[0] and returns its exit code, or null when the first argument names no verb.</summary>
    public static async Task<int?> TryRunAsync(string[] args) => args switch
    {
        ["views", .. var rest] => await ViewsCommand.RunAsync(rest, Console.Out, Console.Error),
        ["ingest", .. var rest] => IngestCommand.RunFromConsole(rest),
        _ => null,
    };
}
