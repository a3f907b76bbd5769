using Spectre.Console;

namespace HealthTrain.Cli.Output;

/// <summary>
/// Chooses between rich rendering (tables, progress bars, live run status) and plain text. Scripts, tests and CI read
/// the plain text, so rich rendering is only for an interactive terminal and never when <c>--plain</c> is given.
/// </summary>
public static class Terminal
{
    /// <summary>The global switch that forces plain text on a terminal too.</summary>
    public const string PlainOption = "--plain";

    /// <summary>The console to render to, or null for plain text: redirected output, a dumb terminal, or <c>--plain</c>.</summary>
    public static IAnsiConsole? Detect(bool plain)
    {
        if (plain || Console.IsOutputRedirected) return null;
        if (Environment.GetEnvironmentVariable("TERM") is "dumb") return null;
        var console = AnsiConsole.Console;
        return console.Profile.Capabilities is { Interactive: true, Ansi: true } ? console : null;
    }

    /// <summary>The words of a command line without the global <c>--plain</c>, and whether it was there.</summary>
    public static (string[] Args, bool Plain) TakePlainOption(string[] args)
    {
        var rest = args.Where(a => a != PlainOption).ToArray();
        return (rest, rest.Length != args.Length);
    }
}
