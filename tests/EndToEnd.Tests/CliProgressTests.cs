using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using Spectre.Console.Testing;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// The CLI's terminal rendering against the real federation: Docker's push messages become per-layer uploads, and
/// <c>run start --watch</c> shows the rounds live while the plain lines around it stay what scripts read.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class CliProgressTests(FederationFixture f)
{
    private string[] Hub => ["--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token];

    [Fact]
    public async Task A_push_reports_every_layer_it_names_as_finished_and_pushed_layers_with_all_their_bytes()
    {
        var image = await f.FreshVersionAsync(f.Misbehaving, f.Misbehaving.Manifest, $"3.2.0-{Guid.NewGuid():N}"[..18]);
        var steps = new List<string>();
        var uploads = new List<LayerUpload>();

        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(image, steps.Add, new ImmediateProgress<LayerUpload>(uploads.Add));

        Assert.StartsWith("sha256:", train.Digest);
        var finished = uploads.Where(u => u.Finished).ToList();
        Assert.NotEmpty(finished);
        // One finished upload per "Pushed" / "Layer already exists" line, for the same layers.
        var layerSteps = steps.Where(s => s.EndsWith(": Pushed", StringComparison.Ordinal) || s.EndsWith(": Layer already exists", StringComparison.Ordinal)).ToList();
        Assert.Equal(layerSteps.Select(s => s.Trim().Split(':')[0]).Order(), finished.Select(u => u.Layer).Order());
        Assert.All(uploads.Where(u => !u.Finished), u => Assert.InRange(u.Sent, 0, u.Total));
    }

    [Fact]
    public async Task Run_start_watch_on_a_terminal_shows_every_station_done_and_prints_the_plain_start_and_outcome()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.CohortStats.Reference);
        var console = new TestConsole().Width(200).Interactive();
        var output = new StringWriter();

        var code = await RunCommands.RunAsync("start",
            new CliArgs(["start", train.Id.ToString(), "--stations", string.Join(',', f.Hospitals), "--watch", .. Hub], "json", "watch"), output, console);

        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(0, code);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^run (\d+) started: ", lines[0]);
        var id = long.Parse(lines[0].Split(' ')[1]);
        Assert.Equal($"run {id} completed", lines[1]);
        Assert.Contains($"run {id}: {train.Repository}:{train.Version}, completed", console.Output);
        Assert.Contains("██████████ 3/3", console.Output);
        foreach (var station in f.Hospitals) Assert.Contains(console.Lines, l => l.Contains(station) && l.Contains(JobStates.Succeeded));

        var results = new TestConsole().Width(200);
        Assert.Equal(0, await RunCommands.RunAsync("results", new CliArgs(["results", id.ToString(), .. Hub], "json"), new StringWriter(), results));
        Assert.Contains("pooled statistics", results.Output);
        Assert.Contains("Pooled over 3 stations", results.Output);
    }
}
