using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>Runs the misbehaving-train fixture image as a station would, one behaviour at a time.</summary>
[Collection(DockerImagesCollection.Name)]
public sealed class MisbehavingTrainTests(DockerImagesFixture fixture)
{
    private static readonly string[] ThreePatients =
    [
        """{"resourceType":"Patient","id":"p1"}""",
        """{"resourceType":"Patient","id":"p2"}""",
        """{"resourceType":"Patient","id":"p3"}""",
    ];

    private async Task<(TrainRun Run, (long ExitCode, string Stdout, string Stderr, bool TimedOut) Result)> RunAsync(string behaviour, TimeSpan? timeout = null)
    {
        var run = new TrainRun($$"""{"behaviour":"{{behaviour}}"}""", ThreePatients);
        return (run, await run.RunAsync(fixture.Docker, fixture.MisbehavingImage.Reference, timeout ?? TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public async Task Ok_counts_the_patients_into_a_valid_statistics_file()
    {
        var (run, result) = await RunAsync("ok");
        using (run)
        {
            Assert.Equal(0, result.ExitCode);
            Assert.Equal(["statistics.json"], Directory.GetFiles(run.OutputDirectory).Select(Path.GetFileName));
            var json = File.ReadAllText(Path.Combine(run.OutputDirectory, "statistics.json"));
            Assert.Equal(3, JsonNode.Parse(json)!["statistics"]!["patients"]!["value"]!.GetValue<long>());
            var (statistics, errors) = StatisticsResultValidator.Parse(fixture.MisbehavingImage.Manifest, json);
            Assert.Empty(errors);
            Assert.Equal(3, statistics!.Statistics["patients"].Value);
        }
    }

    [Fact]
    public async Task Crash_writes_to_stderr_and_exits_3()
    {
        var (run, result) = await RunAsync("crash");
        using (run)
        {
            Assert.Equal(3, result.ExitCode);
            Assert.Contains("exiting with code 3", result.Stderr);
            Assert.Empty(Directory.GetFiles(run.OutputDirectory));
        }
    }

    [Fact]
    public async Task Undeclared_also_writes_a_row_level_csv()
    {
        var (run, result) = await RunAsync("undeclared");
        using (run)
        {
            Assert.Equal(0, result.ExitCode);
            Assert.Equal(["patients.csv", "statistics.json"], Directory.GetFiles(run.OutputDirectory).Select(Path.GetFileName).Order());
            Assert.Equal(["id", "p1", "p2", "p3"], File.ReadAllLines(Path.Combine(run.OutputDirectory, "patients.csv")));
        }
    }

    [Fact]
    public async Task Bad_statistics_emits_an_undeclared_statistic_that_validation_rejects()
    {
        var (run, result) = await RunAsync("bad-statistics");
        using (run)
        {
            Assert.Equal(0, result.ExitCode);
            var json = File.ReadAllText(Path.Combine(run.OutputDirectory, "statistics.json"));
            var (_, errors) = StatisticsResultValidator.Parse(fixture.MisbehavingImage.Manifest, json);
            Assert.Contains(errors, e => e.Path == "$.statistics.secret_ages");
        }
    }

    [Fact]
    public async Task Sleep_never_finishes_on_its_own()
    {
        var (run, result) = await RunAsync("sleep", TimeSpan.FromSeconds(3));
        using (run)
        {
            Assert.True(result.TimedOut);
            Assert.Contains("sleeping forever", result.Stdout);
        }
    }
}
