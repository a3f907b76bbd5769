using System.Diagnostics;
using HealthTrain.Cli.Commands;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Cli;

/// <summary>
/// The real <c>healthtrain</c> program with its output redirected, as scripts run it: plain lines, with or without the
/// global <c>--plain</c>, and a clear error for a wrong command line.
/// </summary>
public sealed class CliProcessTests
{
    private static async Task<(int Code, string Out, string Err)> HealthTrainAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // No profile from the machine's user: the hub comes from the arguments only.
            Environment = { ["HOME"] = Path.GetTempPath(), ["HEALTHTRAIN_HUB"] = null, ["HEALTHTRAIN_TOKEN"] = null },
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "healthtrain.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Redirected_output_is_the_plain_lines_with_or_without_plain()
    {
        var runs = new List<RunInfo> { CliSamples.Finished(), CliSamples.Run(8, RunStates.Running, CliSamples.Job(30, 1, "hospital-a", JobStates.Running)) };
        using var hub = new FakeHub(path => path == "/api/runs" ? runs : null);
        var expected = new StringWriter();
        RunCommands.RunList(runs).WritePlain(expected);

        var redirected = await HealthTrainAsync(["run", "list", .. hub.Options]);
        Assert.Equal((0, expected.ToString(), ""), redirected);

        var plain = await HealthTrainAsync(["--plain", "run", "list", .. hub.Options]);
        Assert.Equal((0, expected.ToString(), ""), plain);
        Assert.DoesNotContain('│', redirected.Out);
    }

    [Fact]
    public async Task A_wrong_command_still_gets_the_usage_error_on_stderr()
    {
        var (code, stdout, stderr) = await HealthTrainAsync("run", "list", "--plain", "--hub");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("--hub needs a value", stderr);
    }
}
