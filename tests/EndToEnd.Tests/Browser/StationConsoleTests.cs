using HealthTrain.Cli.Demo;
using HealthTrain.Trains.Protocol;
using Microsoft.Playwright;

namespace HealthTrain.EndToEnd.Tests.Browser;

/// <summary>
/// The station console against a real federation: a station that waits for its operator's approval and holds its
/// statistics results for release. The operator signs in in a browser, reads the inspection report, approves, and the
/// job runs; its result waits at the station (awaiting release at the hub) until released, and a withheld one fails
/// its job with the operator's reason.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class StationConsoleTests(FederationFixture f)
{
    [Fact]
    public async Task An_operator_approves_a_train_in_the_console_then_releases_one_result_and_withholds_the_next()
    {
        var station = await f.Federation.AddStationAsync("console-clinic", Path.Combine(f.Root, "tiny-clinic-data"), autoApproveStatistics: false,
            settings: ["Release:Manual:0=" + TrainKinds.Statistics]);
        var console = $"http://{station.StatusUrl.Authority}/console";
        var token = LocalFederation.OperatorTokenOf(station);
        var nonce = Guid.NewGuid().ToString("N")[..6];
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(await f.FreshVersionAsync(f.Misbehaving, f.Misbehaving.Manifest, $"4.0.0-{nonce}"));
        var run = await f.Alice.StartRunAsync(new RunRequest(train.Id, ["console-clinic"]));
        await WaitForJobStateAsync(run.Id, JobStates.AwaitingApproval);

        var (playwright, browser) = await Chromium.LaunchAsync();
        try
        {
            var page = await Chromium.NewPageAsync(browser);
            await page.GotoAsync(console);
            await page.FillAsync("input[name=token]", token);
            await page.ClickAsync("button[type=submit]");
            Assert.EndsWith("/console/approvals", page.Url);
            Assert.Contains(train.Version, await page.InnerTextAsync("#pending"));

            await page.ClickAsync($"#pending a:has-text('{train.Version}')");
            Assert.Contains("alice", await page.InnerTextAsync("#signatures"));
            Assert.Contains("hub", await page.InnerTextAsync("#signatures"));
            Assert.Contains("Patient", await page.InnerTextAsync("#inputs"));
            Assert.Contains("patients", await page.InnerTextAsync("#statistics"));
            Assert.Contains("65532:65532", await page.InnerTextAsync("#image"));
            Assert.Contains("no auto-approval rule matches", await page.InnerTextAsync("#verdict"));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("station-console-approval-federation"), FullPage = true });
            await page.FillAsync("form[action$='/approve'] input[name=reason]", "counts patients only");
            await page.ClickAsync("#approve");
            Assert.Equal("approved", await page.InnerTextAsync("#approval-state"));

            // The job proceeds: it runs, and its result waits at the station for release.
            var job = await WaitForJobStateAsync(run.Id, JobStates.AwaitingRelease);
            await page.GotoAsync(console + "/releases/" + job.Id);
            // Three patients is under the station's k = 5: the operator sees the count withheld before anything leaves.
            var cells = await page.InnerTextAsync("#cells");
            Assert.DoesNotContain("value = " + FederationFixture.TinyClinicPatients, cells);
            Assert.Contains("withheld here (small cells): " + SuppressedCells.Value, cells);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("station-console-release-federation"), FullPage = true });
            await page.ClickAsync("#release");
            var released = await f.Alice.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(2));
            Assert.True(released.State == RunStates.Completed, string.Join("; ", released.Jobs.Select(j => $"{j.State} {j.Error}")));
            var pooled = (await f.Alice.GetResultsAsync(run.Id)).Rounds.Single().Pooled!.Statistics.Single();
            Assert.Equal(1, pooled.Value); // a lower bound: at least one patient behind the withheld count
            Assert.Equal(new Dictionary<string, int> { [SuppressedCells.Value] = 1 }, pooled.Suppressed);

            await page.GotoAsync(console + "/jobs");
            Assert.Contains("succeeded", await page.InnerTextAsync("#jobs"));

            // The same digest runs again without asking; this time its result is withheld.
            var again = await f.Alice.StartRunAsync(new RunRequest(train.Id, ["console-clinic"]));
            var second = await WaitForJobStateAsync(again.Id, JobStates.AwaitingRelease);
            await page.GotoAsync(console + "/releases/" + second.Id);
            await page.FillAsync("form[action$='/withhold'] input[name=reason]", "too few patients to publish");
            await page.ClickAsync("#withhold");
            var withheld = await f.Alice.WaitForRunAsync(again.Id, null, TimeSpan.FromMinutes(2));
            var failed = Assert.Single(withheld.Jobs);
            Assert.Equal(JobStates.Failed, failed.State);
            Assert.Matches(@"^release: the result was withheld at this station by operator on \S+ \S+ UTC: too few patients to publish$", failed.Error);
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }

    private async Task<JobInfo> WaitForJobStateAsync(long runId, string state)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var run = await f.Alice.GetRunAsync(runId);
            if (run.Jobs.Count > 0 && run.Jobs.All(j => j.State == state)) return run.Jobs[0];
            Assert.True(DateTime.UtcNow < deadline, $"run {runId}: jobs {string.Join(", ", run.Jobs.Select(j => $"{j.State} {j.Error}"))}, expected {state}");
            await Task.Delay(200);
        }
    }
}
