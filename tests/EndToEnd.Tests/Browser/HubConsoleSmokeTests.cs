using HealthTrain.Hub.Tests.Console;
using HealthTrain.Trains.Protocol;
using Microsoft.Playwright;

namespace HealthTrain.EndToEnd.Tests.Browser;

/// <summary>
/// The hub console in chromium against the whole hub hosted in this process (no Docker, no registry, no stations):
/// stations' work is reported through the hub's job queue and the hub's own round merger makes the model versions,
/// so the run page has real progress to follow. Screenshots: hub-console-smoke-* (Chromium.ScreenshotPath).
/// </summary>
public sealed class HubConsoleSmokeTests : IAsyncLifetime
{
    private const string HostileStation = "st-<img src=x onerror=\"window.pwned=1\">";
    private ConsoleHub hub = null!;
    private IPlaywright playwright = null!;
    private IBrowser browser = null!;

    public async Task InitializeAsync()
    {
        hub = await ConsoleHub.StartAsync();
        (playwright, browser) = await Chromium.LaunchAsync();
    }

    public async Task DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
        await hub.DisposeAsync();
    }

    [Fact]
    public async Task An_operator_signs_in_rejects_a_train_follows_a_run_to_its_end_and_sees_its_plots_and_ledger()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        var stations = new[] { hub.Identity("hospital-a", Roles.Station), hub.Identity("hospital-b", Roles.Station), hub.Identity(HostileStation, Roles.Station) };
        var waiting = hub.Train(alice, "cohort", "1.0.0", ConsoleHub.StatisticsManifest, ConsoleHub.Passing());
        hub.Train(alice, "cohort", "0.9.0", ConsoleHub.StatisticsManifest, new TrainCheck("author-signature", false, "the image has no signature"));
        var risk = hub.Published(hub.Train(alice, "risk", "1.0.0", ConsoleHub.TrainingManifest, ConsoleHub.Passing()));
        var runId = hub.TrainingRun(alice, risk, stations, 2);

        var page = await Chromium.NewPageAsync(browser, new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
        var console = new Uri(hub.BaseAddress, "/console").ToString();

        // Sign in: the console sends the browser to the sign-in page and back.
        await page.GotoAsync(console);
        Assert.Contains("/console/sign-in", page.Url);
        await page.FillAsync("input[name=token]", hub.OperatorToken);
        await page.ClickAsync("button:has-text('Sign in')");
        await page.WaitForURLAsync("**/console/trains");
        Assert.Contains("signed in as operator", await page.InnerTextAsync("header"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-smoke-trains"), FullPage = true });

        // Reject the waiting train with a reason, through the form and its antiforgery token.
        await page.ClickAsync($"tr[data-train='{waiting.Id}'] a >> nth=0");
        Assert.Contains("valid, key", await page.InnerTextAsync("#author-signature"));
        await page.FillAsync("form[action$='/reject'] input[name=reason]", "declares no purpose");
        await page.ClickAsync("button:has-text('Reject')");
        await page.WaitForSelectorAsync("p.notice");
        Assert.Equal(TrainStates.Rejected, await page.InnerTextAsync("#train-state"));
        Assert.Equal(TrainStates.Rejected, hub.Catalog.Find(waiting.Id, alice)!.State);

        // The run page follows the run: round 1 completes, round 2 appears and completes, without a reload.
        await page.GotoAsync($"{console}/runs/{runId}");
        Assert.Equal("running", await page.InnerTextAsync("#run-state"));
        Assert.Equal(3, await page.Locator("#progress tr[data-round='1'] td.state-queued").CountAsync());
        foreach (var (station, i) in stations.Select((s, i) => (s, i)))
            await hub.ContributeAsync(station, i + 1, 10, new Dictionary<string, double> { ["global_auroc"] = 0.62, ["train_loss"] = 0.8 });
        await page.WaitForSelectorAsync("#progress tr[data-round='2']", new PageWaitForSelectorOptions { Timeout = 20_000 });
        Assert.Equal(3, await page.Locator("#progress tr[data-round='1'] td.state-succeeded[data-station]").CountAsync());
        foreach (var (station, i) in stations.Select((s, i) => (s, i)))
            await hub.ContributeAsync(station, i + 2, 10, new Dictionary<string, double> { ["global_auroc"] = 0.71, ["train_loss"] = 0.55 });
        await page.WaitForFunctionAsync("() => document.getElementById('run-state').textContent === 'completed'", null, new PageWaitForFunctionOptions { Timeout = 20_000 });
        Assert.True(int.Parse(await page.GetAttributeAsync("#progress", "data-refreshes") ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= 2);
        // The hostile station name arrived through the poller as text: no element was made from it and no script ran.
        Assert.Contains(HostileStation, await page.InnerTextAsync("#progress"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.pwned === undefined && document.querySelectorAll('#progress img').length === 0"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-smoke-run"), FullPage = true });

        // The model version: lineage, a plot point per round, and the provenance picture.
        await page.GotoAsync($"{console}/models/{runId}/2");
        Assert.Equal(2, await page.Locator("svg.plot[data-metric='global_auroc'] circle.point").CountAsync());
        Assert.Equal(2, await page.Locator("svg.plot[data-metric='train_loss'] circle.point").CountAsync());
        Assert.Equal($"{runId}/1", await page.InnerTextAsync("#model-parent a"));
        Assert.True(await page.Locator("svg.provenance g.node").CountAsync() >= 3 + 3 + 6 + 2 + 2);
        Assert.Equal(1, await page.Locator("svg.provenance g.node.highlight").CountAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-smoke-model"), FullPage = true });

        // The ledger: verified in full on the server.
        await page.GotoAsync($"{console}/ledger");
        await page.ClickAsync("#verify");
        await page.WaitForSelectorAsync("#verify-result");
        Assert.Equal("true", await page.GetAttributeAsync("#verify-result", "data-ok"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-smoke-ledger"), FullPage = true });

        // Signing out ends the session.
        await page.ClickAsync("button:has-text('Sign out')");
        await page.WaitForURLAsync("**/console/sign-in", new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
        await page.GotoAsync($"{console}/runs");
        Assert.Contains("/console/sign-in", page.Url);
    }
}
