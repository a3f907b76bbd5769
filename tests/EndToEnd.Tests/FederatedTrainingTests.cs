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
        Assert.True(done.Jobs.All(j => j.State == JobStates.Succeeded) && done.Jobs.Count == Rounds * 3,
            string.Join("\n", done.Jobs.Where(j => j.State != JobStates.Succeeded).Select(j => $"round {j.Round} {j.Station}: {j.State} {j.Error}")));

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

        // The last version's provenance: derived from the version before it and from its round's three updates, with ledger entries.
        var provText = new StringWriter();
        Assert.Equal(0, await ModelCommands.RunAsync(new CliArgs(["prov", $"{run.Id}/{Rounds}",
            "--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token]), provText));
        var prov = System.Text.Json.Nodes.JsonNode.Parse(provText.ToString())!.AsObject();
        var last = $"ht:model/{versions[^1].Digest}/run/{run.Id}/round/{Rounds}";
        var before = $"ht:model/{versions[^2].Digest}/run/{run.Id}/round/{Rounds - 1}";
        Assert.Equal(last, prov["ht:subject"]!.GetValue<string>());
        Assert.Equal(entries.Single(e => e.Kind == LedgerKinds.ModelVersioned && e.Subject == $"model/{versions[^1].Id}").Index,
            prov["entity"]![last]!["ht:ledgerEntry"]!.GetValue<long>());
        var sources = prov["wasDerivedFrom"]!.AsObject().Select(d => d.Value!).Where(d => d["prov:generatedEntity"]!.GetValue<string>() == last)
            .Select(d => d["prov:usedEntity"]!.GetValue<string>()).ToList();
        Assert.Contains(before, sources);
        Assert.Equal(3, sources.Count(s => s.StartsWith("ht:result/job/", StringComparison.Ordinal)));
        // Each station ran its jobs under an approval that names who decided.
        Assert.All(prov["activity"]!.AsObject().Where(a => a.Key.StartsWith("ht:approval/", StringComparison.Ordinal)),
            a => Assert.False(string.IsNullOrEmpty(a.Value!["ht:decidedBy"]!.GetValue<string>())));
    }

    [Fact]
    public async Task A_run_the_stations_privacy_budget_cannot_pay_for_is_refused_before_its_first_round()
    {
        // σ = 1, δ = 1e-5: two releases cost ε ≈ 7, five ≈ 13 (RDP, Balle et al. 2020 conversion); the budget is 10.
        await f.Federation.AddStationAsync("private-clinic", f.Slices.Parts[0].Folder, settings:
        [
            "Privacy:NoiseMultiplier=1", "Privacy:ClipNorm=1", "Privacy:Delta=0.00001", "Privacy:EpsilonBudget=10",
            "Approval:AutoApprove:1:Name=dp-training", "Approval:AutoApprove:1:Kinds:0=training",
        ]);
        var builder = new TrainImageBuilder(f.Docker, new BaseImageBuilder(f.Docker, BaseImageOptions.ForRepository(RepoPaths.Root), new ImmediateProgress<string>(_ => { })),
            new ImmediateProgress<string>(_ => { }));
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync((await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"))).Reference);
        var parameters = new Dictionary<string, JsonElement> { ["epochs"] = JsonSerializer.SerializeToElement(2) };

        // Settings the hub cannot honour are refused with the path, before anything is queued.
        var bad = await Assert.ThrowsAsync<HealthTrain.Cli.Hub.HubApiException>(() => f.Alice.StartRunAsync(new RunRequest(train.Id, ["private-clinic"], 2, parameters)
            { Training = new TrainingSettings { Strategy = "fedmagic", MinStations = 2 } }));
        Assert.Contains("$.training.strategy: unknown merge strategy 'fedmagic'", bad.Message);
        Assert.Contains("$.training.minStations: must be 1 to the number of stations (1)", bad.Message);

        var tooLong = await f.Alice.StartRunAsync(new RunRequest(train.Id, ["private-clinic"], 5, parameters) { Training = new TrainingSettings() });
        var refused = await f.Alice.WaitForRunAsync(tooLong.Id, null, TimeSpan.FromMinutes(5));
        var job = Assert.Single(refused.Jobs);
        Assert.Equal(RunStates.Failed, refused.State);
        Assert.StartsWith($"privacy: run 'run/{tooLong.Id}' is refused before its first round: its 5 round(s) at noise multiplier 1 cost ε = ", job.Error);
        Assert.Contains("over its budget ε = 10", job.Error);
        Assert.Null(job.StartedAt); // the train never ran

        var affordable = await f.Alice.StartRunAsync(new RunRequest(train.Id, ["private-clinic"], 2, parameters) { Training = new TrainingSettings() });
        var done = await f.Alice.WaitForRunAsync(affordable.Id, null, TimeSpan.FromMinutes(5));
        Assert.True(done.State == RunStates.Completed, string.Join("\n", done.Jobs.Select(j => $"round {j.Round}: {j.State} {j.Error}")));
        Assert.Equal(2, (await f.Alice.ListModelsAsync(affordable.Id)).Count);
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
