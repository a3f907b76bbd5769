using System.Diagnostics;

namespace HealthTrain.Cli.Images;

/// <summary>
/// <c>dotnet publish</c> self-contained for linux-x64 with invariant globalization. The runtime seed
/// and every train are published with these exact arguments, so their runtime files are byte-identical
/// and a train's layer can leave them out.
/// </summary>
internal static class SelfContainedPublish
{
    public const string RuntimeIdentifier = "linux-x64";

    private static readonly Dictionary<string, string> Environment = new()
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
    };

    /// <summary>Publishes <paramref name="project"/> into <paramref name="outputDirectory"/>; throws with the build output's tail on failure.</summary>
    public static async Task<TimeSpan> RunAsync(string what, string project, string outputDirectory, Action<string> log, CancellationToken cancellationToken)
    {
        log($"dotnet publish {project}");
        var clock = Stopwatch.StartNew();
        var result = await ProcessRunner.RunAsync("dotnet",
        [
            "publish", project,
            "-c", "Release",
            "-r", RuntimeIdentifier,
            "--self-contained",
            "-p:InvariantGlobalization=true",
            // One file per assembly (not a bundle) and a native launcher as the entrypoint are what
            // make the runtime files shareable with the base image.
            "-p:PublishSingleFile=false",
            "-p:UseAppHost=true",
            "-o", outputDirectory,
            "--nologo",
            "-tl:off",
        ], Path.GetDirectoryName(project), Environment, onLine: null, cancellationToken);
        if (result.ExitCode != 0)
            throw new ImageBuildException($"dotnet publish of {what} failed (exit code {result.ExitCode}); last build output:{System.Environment.NewLine}{result.Tail()}");
        return clock.Elapsed;
    }

    /// <summary>The SDK version <c>dotnet</c> resolves in <paramref name="directory"/> (global.json applies).</summary>
    public static async Task<string> SdkVersionAsync(string directory, CancellationToken cancellationToken)
    {
        var result = await ProcessRunner.RunCheckedAsync("dotnet --version", "dotnet", ["--version"], directory, Environment, cancellationToken: cancellationToken);
        return string.Join("\n", result.Output).Trim();
    }
}
