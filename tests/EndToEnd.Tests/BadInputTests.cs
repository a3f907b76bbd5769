using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>Bad trains and bad callers: each gets a clear recorded error, and the rest of the run goes on.</summary>
[Collection(FederationCollection.Name)]
public sealed class BadInputTests(FederationFixture f)
{
    private static Dictionary<string, JsonElement> Parameters(string behaviour) => new()
    {
        ["behaviour"] = JsonSerializer.SerializeToElement(behaviour),
        // Only the tiny clinic misbehaves; hospital-a runs the same train normally.
        ["misbehave_up_to_patients"] = JsonSerializer.SerializeToElement(FederationFixture.TinyClinicPatients),
    };

    [Theory]
    [InlineData("crash", "run: the train exited with code 3")]
    [InlineData("undeclared", "collect: the train wrote undeclared output: patients.csv")]
    [InlineData("bad-statistics", "$.statistics.secret_ages: is not declared in the manifest")]
    public async Task A_failing_station_is_recorded_and_the_others_are_pooled(string behaviour, string error)
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", f.TinyClinic], Parameters(behaviour));

        var details = CohortStatsRunTests.RunDetails(run);
        Assert.True(run.State == RunStates.Completed, details);
        var tiny = run.Jobs.Single(j => j.Station == f.TinyClinic);
        Assert.Equal(JobStates.Failed, tiny.State);
        Assert.Contains(error, tiny.Error);
        Assert.Equal(JobStates.Succeeded, run.Jobs.Single(j => j.Station == "hospital-a").State);
        if (behaviour == "crash")
        {
            Assert.Equal(3, tiny.ExitCode);
            Assert.Contains("pretending the input is corrupt", tiny.LogTail);
        }

        var pooled = Assert.Single((await f.Alice.GetResultsAsync(run.Id)).Rounds).Pooled!;
        Assert.Equal(["hospital-a"], pooled.Stations);
        Assert.Equal(f.Slices.Parts[0].PatientCount, pooled.Statistics.Single(s => s.Name == "patients").Value);
    }

    [Fact]
    public async Task A_train_past_its_timeout_is_killed_and_recorded()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.MisbehavingShortTimeout.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", f.TinyClinic], Parameters("sleep"));

        Assert.True(run.State == RunStates.Completed, CohortStatsRunTests.RunDetails(run));
        var tiny = run.Jobs.Single(j => j.Station == f.TinyClinic);
        Assert.Equal(JobStates.Failed, tiny.State);
        Assert.Contains("run: the train exceeded its timeout of 4 s and was killed", tiny.Error);
        Assert.Contains("sleeping forever", tiny.LogTail);
        Assert.Equal(JobStates.Succeeded, run.Jobs.Single(j => j.Station == "hospital-a").State);
        // Nothing of the killed train is left behind.
        var containers = await f.Docker.Containers.ListContainersAsync(new Docker.DotNet.Models.ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"org.healthtrain.run={run.Id}"] = true } },
        });
        Assert.Empty(containers);
    }

    [Fact]
    public async Task When_every_station_fails_the_run_fails_with_each_reason()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var parameters = new Dictionary<string, JsonElement> { ["behaviour"] = JsonSerializer.SerializeToElement("crash") };
        var run = await f.RunToEndAsync(train, ["hospital-b", f.TinyClinic], parameters);
        Assert.Equal(RunStates.Failed, run.State);
        Assert.All(run.Jobs, j => Assert.Contains("the train exited with code 3", j.Error));
        Assert.Null(Assert.Single((await f.Alice.GetResultsAsync(run.Id)).Rounds).Pooled);
    }

    [Fact]
    public async Task The_hub_refuses_an_image_with_a_missing_or_malformed_manifest()
    {
        var publisher = f.Federation.Publisher(f.Docker, f.Alice);
        var digest = await publisher.PushImageAsync(f.MisbehavingWithoutManifest.Reference, FederationFixture.MisbehavingRepository, "no-manifest", "alice");
        var missing = await Assert.ThrowsAsync<HubApiException>(() => f.Alice.SubmitTrainAsync(new TrainSubmission(FederationFixture.MisbehavingRepository, digest)));
        Assert.Equal(HttpStatusCode.BadRequest, missing.Status);
        Assert.Contains("the manifest is missing: the image has no 'org.healthtrain.manifest' label", missing.Message);

        digest = await publisher.PushImageAsync(f.MisbehavingMalformedManifest.Reference, FederationFixture.MisbehavingRepository, "malformed", "alice");
        var malformed = await Assert.ThrowsAsync<HubApiException>(() => f.Alice.SubmitTrainAsync(new TrainSubmission(FederationFixture.MisbehavingRepository, digest)));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Contains("$.authors: at least one author is required", malformed.Message);
        Assert.Contains("$.inputs: at least one input is required", malformed.Message);
        Assert.Contains("$.outputs.statistics[0].name: 'Bad Name' is not a valid name", malformed.Message);
        Assert.Contains("$.outputs.statistics[0].kind: 'median' is not a statistic kind", malformed.Message);
        Assert.Contains("$.resources.memoryMb: 1 is out of range", malformed.Message);
        Assert.DoesNotContain((await f.Alice.ListTrainsAsync()), t => t.Digest == digest);
    }

    [Theory]
    [InlineData("alice/misbehaving-train", "../../../bob/x/manifests/1.0", "is neither a tag nor a sha256")]
    [InlineData("alice/../bob/x", "1.0", "is not a registry repository name")]
    [InlineData("bob/x", "1.0", "is outside your namespace 'alice/'")]
    public async Task A_submission_cannot_reach_outside_its_namespace(string repository, string reference, string error)
    {
        var e = await Assert.ThrowsAsync<HubApiException>(() => f.Alice.SubmitTrainAsync(new TrainSubmission(repository, reference)));
        Assert.Equal(HttpStatusCode.BadRequest, e.Status);
        Assert.Contains(error, e.Message);
    }

    [Fact]
    public async Task An_unknown_station_token_is_refused_and_changes_nothing()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        // A job waits for a station that never comes; a caller with a made-up token must not be able to touch it.
        await f.Federation.Operator.CreateIdentityAsync("absent-station", Roles.Station);
        var run = await f.Alice.StartRunAsync(new RunRequest(train.Id, ["absent-station"]));
        var job = Assert.Single(run.Jobs);

        using var http = new HttpClient { BaseAddress = f.Federation.HubUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "ht_not-a-real-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/station/jobs/next")).StatusCode);
        var upload = new JobResultUpload(new StatisticsResult(), new JobTimings());
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync($"/api/station/jobs/{job.Id}/result",
            System.Net.Http.Json.JsonContent.Create(upload))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync($"/api/station/jobs/{job.Id}/failure",
            System.Net.Http.Json.JsonContent.Create(new JobFailureReport("x", "y")))).StatusCode);
        var registry = await http.GetAsync($"/v2/{FederationFixture.MisbehavingRepository}/manifests/{train.Digest}");
        Assert.Equal(HttpStatusCode.Unauthorized, registry.StatusCode);
        Assert.Equal("Basic realm=\"HealthTrain hub\"", registry.Headers.WwwAuthenticate.ToString());

        // A station process with an unknown token is refused too, and says why.
        var rogue = await f.Federation.AddStationAsync("rogue-station", null, tokenOverride: "ht_rogue");
        var status = await WaitForAsync(async () => await f.Federation.StatusAsync(rogue) is { } s
            && s.GetProperty("lastError").GetString() is { } e && e.Contains("401") ? s : (JsonElement?)null);
        Assert.Contains("refused this station's token", status.GetProperty("lastError").GetString());

        var after = Assert.Single((await f.Alice.GetRunAsync(run.Id)).Jobs);
        Assert.Equal((job.Id, JobStates.Queued, 0), (after.Id, after.State, after.Attempts));
        Assert.Null(after.Error);
        Assert.Null(after.ResultDigest);
        Assert.Equal(RunStates.Running, (await f.Alice.GetRunAsync(run.Id)).State);
    }

    private static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement?>> probe)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } found) return found;
            await Task.Delay(200);
        }
        throw new TimeoutException("condition not met within 30 s");
    }
}
