using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// diabetes-risk trained across the three hospitals for five rounds through the real hub, registry, Docker and stations:
/// each station's operator approves the image once; the hub is killed mid-run and restarted; the run still ends with
/// five model versions, each merged from all three stations' updates and pointing at the one before.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class FederatedTrainingTests(FederationFixture f)
{
    private const int Rounds = 5;

    [Fact]
    public async Task Five_rounds_at_three_stations_survive_a_hub_restart_and_leave_five_versions_with_full_lineage()
    {
        var builder = new TrainImageBuilder(f.Docker, new BaseImageBuilder(f.Docker, BaseImageOptions.ForRepository(RepoPaths.Root), new ImmediateProgress<string>(_ => { })),
            new ImmediateProgress<string>(_ => { }));
        var image = await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(image.Reference);
        Assert.Equal(TrainStates.Published, train.State);

        var run = await f.Alice.StartRunAsync(new RunRequest(train.Id, f.Hospitals, Rounds, new()
        {
            ["epochs"] = JsonSerializer.SerializeToElement(5),
        })
        { Training = new TrainingSettings { Strategy = "fedavg", Seed = 7 } });

        // Training trains are not covered by the hospitals' auto-approval: each operator approves the digest once.
        foreach (var station in f.Federation.Stations.Where(s => f.Hospitals.Contains(s.Name)))
            await ApproveWhenPendingAsync(station, train.Digest);

        // Kill the hub once round 3 is under way; stations keep retrying, the hub resumes from its database.
        await WaitAsync(run.Id, r => r.CurrentRound >= 3, "round 3 to start");
        await f.Federation.RestartHubAsync();
        var done = await f.Alice.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(10));
        Assert.True(done.State == RunStates.Completed, string.Join("\n", done.Jobs.Select(j => $"round {j.Round} {j.Station}: {j.State} {j.Error}")));
        Assert.Equal(Rounds * 3, done.Jobs.Count(j => j.State == JobStates.Succeeded));

        var versions = await f.Alice.ListModelsAsync(run.Id);
        Assert.Equal([1, 2, 3, 4, 5], versions.Select(v => v.Round));
        string? parent = null;
        foreach (var v in versions)
        {
            Assert.Equal(parent, v.ParentDigest);
            Assert.Equal("fedavg", v.Strategy);
            Assert.Equal(f.Hospitals, v.Contributors.Select(c => c.Station).Order());
            // Each contribution is the job of that round, counted once.
            Assert.All(v.Contributors, c => Assert.Equal(v.Round, done.Jobs.Single(j => j.Id == c.JobId).Round));
            Assert.Equal(v.Contributors.Sum(c => c.Samples), v.Samples);
            Assert.InRange(v.Metrics["global_auroc"], 0, 1);
            parent = v.Digest;
        }
        Assert.Equal(versions.Count, versions.Select(v => v.Digest).Distinct().Count());

        // The ledger names every merge and version; the CLI pulls the last model and checks its digest.
        var size = (await f.Alice.GetLedgerHeadAsync()).TreeSize;
        var entries = (await f.Alice.GetLedgerEntriesAsync(Math.Max(0, size - 1000), 1000)).Select(e => e.Parse()).ToList();
        Assert.Equal(versions.Select(v => v.Digest), entries.Where(e => e.Kind == LedgerKinds.ModelVersioned && e.Payload["run"]!.GetValue<string>() == $"run/{run.Id}")
            .Select(e => e.Payload["digest"]!.GetValue<string>()));
        var file = Path.Combine(f.Root, "diabetes-risk-final.safetensors");
        var pulled = new StringWriter();
        Assert.Equal(0, await ModelCommands.RunAsync(new CliArgs(["pull", $"{run.Id}/{Rounds}", "--out", file,
            "--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token]), pulled));
        Assert.Contains($"{versions[^1].Digest}, verified", pulled.ToString());
    }

    private async Task ApproveWhenPendingAsync(LocalStation station, string digest)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{station.StatusUrl.Authority}") };
        http.DefaultRequestHeaders.Authorization = new("Bearer", LocalFederation.OperatorTokenOf(station));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (true)
        {
            using var response = await http.GetAsync($"/api/approvals/{digest}");
            if (response.IsSuccessStatusCode) break;
            Assert.True(DateTime.UtcNow < deadline, $"{station.Name} never inspected {digest}");
            await Task.Delay(250);
        }
        using var approved = await http.PostAsync($"/api/approvals/{digest}/approve",
            System.Net.Http.Json.JsonContent.Create(new ApprovalDecision("diabetes-risk reviewed for the federated study")));
        approved.EnsureSuccessStatusCode();
    }

    private async Task WaitAsync(long runId, Func<RunInfo, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (true)
        {
            var run = await f.Alice.GetRunAsync(runId);
            if (condition(run)) return;
            Assert.True(run.State == RunStates.Running && DateTime.UtcNow < deadline,
                $"waiting for {what}: run {run.State}\n{string.Join("\n", run.Jobs.Select(j => $"round {j.Round} {j.Station}: {j.State} {j.Error}"))}");
            await Task.Delay(250);
        }
    }
}
