using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// A station without auto-approval holds each new image's job until its operator decides, from the CLI over the
/// station's own API: the job waits at the hub as awaiting approval, the decision binds to the exact digest, and every
/// decision is recorded (at the station, and in the hub's ledger when a job runs under it).
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class ApprovalTests(FederationFixture f)
{
    [Fact]
    public async Task An_operator_approves_one_digest_and_rejects_the_next_version_with_the_diff_in_front_of_them()
    {
        var station = await f.Federation.AddStationAsync("careful-clinic", Path.Combine(f.Root, "tiny-clinic-data"), autoApproveStatistics: false);
        var stationUrl = $"http://{station.StatusUrl.Authority}";
        var token = LocalFederation.OperatorTokenOf(station);
        async Task<(int Code, string Output)> Approvals(params string[] args)
        {
            var output = new StringWriter();
            var code = await ApprovalCommands.RunAsync(new CliArgs(["approvals", .. args, "--station", stationUrl, "--token", token]), output);
            return (code, output.ToString());
        }

        // Version 1 waits for a person.
        var nonce = Guid.NewGuid().ToString("N")[..6];
        var v1 = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(await f.FreshVersionAsync(f.Misbehaving, f.Misbehaving.Manifest, $"3.0.0-{nonce}"));
        var run1 = await f.Alice.StartRunAsync(new RunRequest(v1.Id, ["careful-clinic"]));
        await WaitForJobStateAsync(run1.Id, JobStates.AwaitingApproval);
        var (_, pending) = await Approvals("list", "--state", "pending");
        Assert.Contains($"pending   {v1.Digest}  alice/misbehaving-train:{v1.Version} (statistics) by alice", pending);
        Assert.Contains("1 job(s) waiting", pending);
        var (_, report) = await Approvals("show", v1.Digest);
        Assert.Matches(@"signed:\s+hub\s+hub\s+key [0-9a-f]{64}", report);
        Assert.Matches(@"signed:\s+author\s+alice\s+key " + f.Federation.KeyOf(f.Alice).KeyId, report);
        Assert.Contains("user:     65532:65532", report);
        Assert.Contains("reads:    fhir-resources Patient", report);
        Assert.Contains("writes:   patients (count)", report);
        Assert.Contains("changes:  no earlier version of this train was approved here", report);

        var (approveCode, approved) = await Approvals("approve", v1.Digest, "--reason", "counts patients only");
        Assert.Equal(0, approveCode);
        Assert.Contains("approved: alice/misbehaving-train", approved);
        var done1 = await f.Alice.WaitForRunAsync(run1.Id, null, TimeSpan.FromMinutes(2));
        Assert.True(done1.State == RunStates.Completed, string.Join("; ", done1.Jobs.Select(j => $"{j.State} {j.Error}")));

        // The hub's ledger has the station's statement of the approval the job ran under.
        var size = (await f.Alice.GetLedgerHeadAsync()).TreeSize;
        var entries = (await f.Alice.GetLedgerEntriesAsync(Math.Max(0, size - 1000), 1000)).Select(e => e.Parse()).ToList();
        var approval = entries.Last(e => e.Kind == LedgerKinds.ApprovalRecorded && e.Subject == $"job/{done1.Jobs[0].Id}" && e.Payload["decision"]!.GetValue<string>() == "approved");
        Assert.Equal("careful-clinic", approval.Actor);
        Assert.Equal("operator", approval.Payload["by"]!.GetValue<string>());
        Assert.Equal("counts patients only", approval.Payload["reason"]!.GetValue<string>());
        Assert.Equal(v1.Digest, approval.Payload["digest"]!.GetValue<string>());

        // The same digest runs again without asking.
        var again = await f.RunToEndAsync(v1, ["careful-clinic"]);
        Assert.Equal(RunStates.Completed, again.State);

        // Version 2 is a new digest: a new decision, with what changed against version 1.
        var v2 = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(
            await f.FreshVersionAsync(f.Misbehaving, f.Misbehaving.Manifest with { Resources = f.Misbehaving.Manifest.Resources with { TimeoutSeconds = 4 } }, $"3.0.1-{nonce}"));
        var run2 = await f.Alice.StartRunAsync(new RunRequest(v2.Id, ["careful-clinic"]));
        await WaitForJobStateAsync(run2.Id, JobStates.AwaitingApproval);
        var (_, report2) = await Approvals("show", v2.Digest);
        Assert.Contains($"changes since approved {v1.Version}", report2);
        Assert.Contains("0 added, 0 changed, 0 removed", report2);
        Assert.Matches(@"needs:    \S+ CPU, \d+ MB, 0 GPU, 4 s", report2);

        var (rejectCode, _) = await Approvals("reject", v2.Digest, "--reason", "a 4 s timeout cannot finish here");
        Assert.Equal(0, rejectCode);
        var done2 = await f.Alice.WaitForRunAsync(run2.Id, null, TimeSpan.FromMinutes(2));
        var job = Assert.Single(done2.Jobs);
        Assert.Equal(JobStates.Failed, job.State);
        Assert.Contains("was rejected at this station by operator", job.Error);
        Assert.Contains("a 4 s timeout cannot finish here", job.Error);

        // A rejection needs a reason, and the API wants the operator's token.
        await Assert.ThrowsAsync<UsageException>(() => Approvals("reject", v2.Digest));
        var anonymous = await new HttpClient().GetAsync(stationUrl + "/api/approvals");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    private async Task WaitForJobStateAsync(long runId, string state)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var run = await f.Alice.GetRunAsync(runId);
            if (run.Jobs.All(j => j.State == state)) return;
            Assert.True(DateTime.UtcNow < deadline, $"run {runId}: jobs {string.Join(", ", run.Jobs.Select(j => $"{j.State} {j.Error}"))}, expected {state}");
            await Task.Delay(200);
        }
    }
}
