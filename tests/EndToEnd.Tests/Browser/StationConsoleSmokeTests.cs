using HealthTrain.Station.Approval;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Release;
using HealthTrain.Trains.Protocol;
using HealthTrain.Station.Tests.OperatorConsole;
using Microsoft.Playwright;

namespace HealthTrain.EndToEnd.Tests.Browser;

/// <summary>
/// The station console in a real browser without Docker: the console runs in process over seeded station stores (the
/// Station.Tests host, linked), and an operator signs in, reads an inspection report, approves the train, and releases
/// a held result.
/// </summary>
public sealed class StationConsoleSmokeTests : IAsyncLifetime
{
    private ConsoleHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await ConsoleHost.StartAsync();
        Seed();
    }

    private void Seed()
    {
        var manifest = ManifestValidator.ParseOrThrow("""
            {"name":"cohort-stats","version":"1.2.0","authors":["alice"],"kind":"statistics","description":"patients by sex",
             "inputs":[{"kind":"view","name":"sexes","view":{"resourceType":"ViewDefinition","resource":"Patient","name":"sexes",
                        "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"gender","path":"gender"}]}]}}],
             "outputs":{"statistics":[{"name":"patients","kind":"count","categories":["female","male"]}]},
             "resources":{"cpus":1,"memoryMb":256,"timeoutSeconds":60}}
            """);
        var digest = "sha256:" + new string('5', 64);
        _host.Approvals.RecordInspection(new InspectionReport(digest, "alice/cohort-stats", "cohort-stats", "1.2.0",
            TrainKinds.Statistics, "alice",
            [new ImageSigner(new string('a', 64), ImageSigner.HubRole, "hub"), new ImageSigner(new string('b', 64), ImageSigner.AuthorRole, "alice")],
            [new ImageLayerInfo("sha256:" + new string('c', 64), 81920, "application/vnd.oci.image.layer.v1.tar+gzip")], 81920,
            new ImageConfigSummary("65532:65532", ["/app/cohort-stats"], [], ["PATH=/usr/bin"], [], [], new Dictionary<string, string>(), "/app"),
            manifest, null, [], DateTimeOffset.UtcNow));
        var job = new JobAssignment(41, 9, 1, 3, "cohort-stats", "1.1.0", "127.0.0.1:7000/alice/cohort-stats@" + digest, digest, "{}", new());
        var history = _host.History;
        history.Received(job);
        history.Started(job.JobId);
        history.Waiting(job.JobId, JobStates.AwaitingRelease, "the statistics result of cohort-stats 1.1.0 waits for the station operator's release");
        var statistics = new StatisticsResult { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Categories = new() { ["female"] = 17, ["male"] = 14 } } } };
        _host.Releases.Hold(job, TrainKinds.Statistics,
            new JobResultUpload(statistics, new JobTimings { TotalMs = 2100, RunMs = 1500 }, [new JobInputSummary("sexes", "view", "Patient", ["id", "gender"], 31)]),
            null, DateTimeOffset.UtcNow.AddHours(72));
        using var batch = _host.Store.BeginBatch();
        for (var i = 0; i < 31; i++)
            batch.Upsert(new FhirResourceRow("Patient", $"p{i}", "2024-01-01T00:00:00Z", null, $$"""{"resourceType":"Patient","id":"p{{i}}"}"""));
        batch.Commit();
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task An_operator_signs_in_approves_a_train_and_releases_a_held_result()
    {
        var (playwright, browser) = await Chromium.LaunchAsync();
        try
        {
            var page = await Chromium.NewPageAsync(browser);
            await page.GotoAsync(new Uri(_host.BaseAddress, "/console").ToString());
            Assert.EndsWith("/console/sign-in", page.Url);
            await page.FillAsync("input[name=token]", "st_wrong-token-000000000000");
            await page.ClickAsync("button[type=submit]");
            Assert.Contains("not a station operator token", await page.InnerTextAsync("[role=alert]"));
            await page.FillAsync("input[name=token]", ConsoleHost.OperatorToken);
            await page.ClickAsync("button[type=submit]");
            Assert.EndsWith("/console/approvals", page.Url);
            // The session cookie is out of the page's reach.
            Assert.DoesNotContain("station_console", await page.EvaluateAsync<string>("document.cookie"));

            await page.ClickAsync("#pending a");
            Assert.Contains("alice", await page.InnerTextAsync("#signatures"));
            Assert.Contains("id, gender", await page.InnerTextAsync("#inputs"));
            Assert.Contains("no auto-approval rule matches", await page.InnerTextAsync("#verdict"));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("station-console-inspection"), FullPage = true });
            await page.FillAsync("form[action$='/approve'] input[name=reason]", "counts by sex only");
            await page.ClickAsync("#approve");
            Assert.Equal("approved", await page.InnerTextAsync("#approval-state"));
            var approval = _host.Approvals.Find("sha256:" + new string('5', 64))!;
            Assert.Equal((ApprovalStates.Approved, ConsoleHost.OperatorName, "counts by sex only"), (approval.State, approval.DecidedBy, approval.Reason));

            await page.ClickAsync("text=Releases");
            await page.ClickAsync("#held a");
            Assert.Contains("female = 17", await page.InnerTextAsync("#cells"));
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("station-console-release"), FullPage = true });
            await page.ClickAsync("#release");
            Assert.EndsWith("/console/releases", page.Url);
            Assert.Contains("released", await page.InnerTextAsync("#held"));
            Assert.Equal(ReleaseStates.Released, _host.Releases.Find(41)!.State);

            await page.ClickAsync("text=Data catalog");
            Assert.Contains("31", await page.InnerTextAsync("#resources"));
            Assert.Contains("sexes", await page.InnerTextAsync("#views"));
            await page.ClickAsync("text=Jobs");
            Assert.Contains("awaiting-release", await page.InnerTextAsync("#jobs"));
            await page.ClickAsync("text=Sign out");
            Assert.EndsWith("/console/sign-in", page.Url);
        }
        finally
        {
            await browser.DisposeAsync();
            playwright.Dispose();
        }
    }
}
