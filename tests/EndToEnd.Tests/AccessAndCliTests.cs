using System.Net;
using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>Who sees what, and what the researcher's CLI prints for a finished run.</summary>
[Collection(FederationCollection.Name)]
public sealed class AccessAndCliTests(FederationFixture f)
{
    [Fact]
    public async Task A_researcher_sees_only_their_own_trains_and_runs()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-b"]);
        using var bob = await f.Federation.AddResearcherAsync("bob-" + Guid.NewGuid().ToString("N")[..6]);

        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<HubApiException>(() => bob.GetRunAsync(run.Id))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<HubApiException>(() => bob.GetResultsAsync(run.Id))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<HubApiException>(() => bob.StartRunAsync(new RunRequest(train.Id, ["hospital-b"])))).Status);
        Assert.DoesNotContain(await bob.ListRunsAsync(), r => r.Id == run.Id);
        Assert.Empty(await bob.ListTrainsAsync());
        // Nor may bob write into alice's namespace in the registry.
        var bobName = (await bob.WhoAmIAsync()).Name;
        var push = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            new TrainPublisher(f.Docker, bob).PushImageAsync(f.Misbehaving.Reference, FederationFixture.MisbehavingRepository, "bob-was-here", bobName));
        Assert.Contains("denied", push.Message, StringComparison.OrdinalIgnoreCase);
        // The operator sees everything.
        Assert.Equal(run.Id, (await f.Federation.Operator.GetRunAsync(run.Id)).Id);
    }

    [Fact]
    public async Task Stations_and_researchers_cannot_use_each_others_endpoints()
    {
        using var station = new HttpClient { BaseAddress = f.Federation.HubUrl };
        var identity = await f.Federation.Operator.CreateIdentityAsync("station-" + Guid.NewGuid().ToString("N")[..6], Roles.Station);
        station.DefaultRequestHeaders.Authorization = new("Bearer", identity.Token);
        Assert.Equal(HttpStatusCode.Forbidden, (await station.GetAsync("/api/runs")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await station.GetAsync("/api/identities")).StatusCode);

        using var researcher = new HttpClient { BaseAddress = f.Federation.HubUrl };
        researcher.DefaultRequestHeaders.Authorization = new("Bearer", f.Alice.Connection.Token);
        Assert.Equal(HttpStatusCode.Forbidden, (await researcher.GetAsync("/api/station/jobs/next")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await researcher.PostAsync("/api/identities",
            System.Net.Http.Json.JsonContent.Create(new IdentityRequest("mallory", Roles.Operator)))).StatusCode);
    }

    [Fact]
    public async Task Run_results_prints_the_pooled_table_and_json()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", "hospital-c"]);
        string[] Args(params string[] extra) => ["results", run.Id.ToString(), "--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token, .. extra];

        var text = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("results", new CliArgs(Args(), "json"), text));
        var expected = f.Slices.Parts[0].PatientCount + f.Slices.Parts[2].PatientCount;
        Assert.Contains($"run {run.Id}: completed", text.ToString());
        Assert.Contains("Pooled over 2 stations: hospital-a, hospital-c", text.ToString());
        Assert.Matches($@"patients\s+count\s+2\s+{expected}", text.ToString());

        var json = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("results", new CliArgs(Args("--json"), "json"), json));
        var results = JsonSerializer.Deserialize<RunResults>(json.ToString(), ProtocolJson.Api)!;
        Assert.Equal(expected, results.Rounds.Single().Pooled!.Statistics.Single().Value);

        var prov = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("prov", new CliArgs(["prov", run.Id.ToString(), "--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token], "json"), prov));
        var agents = System.Text.Json.Nodes.JsonNode.Parse(prov.ToString())!["agent"]!.AsObject().Select(a => a.Key).ToList();
        Assert.Contains("ht:identity/hospital-a", agents);
        Assert.Contains("ht:identity/hospital-c", agents);

        var typo = await Assert.ThrowsAsync<UsageException>(() => RunCommands.RunAsync("results", new CliArgs(Args("--jsn", "yes"), "json"), new StringWriter()));
        Assert.Equal("unknown option(s): --jsn", typo.Message);
    }
}
