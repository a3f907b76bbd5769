using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Trains.Protocol.Signing;
using Microsoft.Playwright;

namespace HealthTrain.EndToEnd.Tests.Browser;

/// <summary>
/// The hub console in chromium against the real federation: an operator publishes a pushed, signed train (the hub's
/// signature lands in the registry and the ledger as through the API), follows a training run's page round by round,
/// and reads a model version's metric plot. Each test saves a screenshot of its page (Chromium.ScreenshotPath).
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class HubConsoleTests(FederationFixture f) : IAsyncLifetime
{
    private const int Rounds = 2;
    private static readonly SemaphoreSlim Setup = new(1, 1);
    private static TrainInfo? trainingTrain;
    private static IReadOnlyList<string>? consoleStations;
    private IPlaywright playwright = null!;
    private IBrowser browser = null!;

    public async Task InitializeAsync() => (playwright, browser) = await Chromium.LaunchAsync();

    public async Task DisposeAsync()
    {
        await browser.DisposeAsync();
        playwright.Dispose();
    }

    private async Task<IPage> SignedInAsync(Uri hub, string operatorToken)
    {
        var page = await Chromium.NewPageAsync(browser, new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1360, Height = 900 } });
        await page.GotoAsync(new Uri(hub, "/console/sign-in").ToString());
        await page.FillAsync("input[name=token]", operatorToken);
        await page.ClickAsync("button:has-text('Sign in')");
        await page.WaitForURLAsync("**/console/trains");
        return page;
    }

    [Fact]
    public async Task An_operator_signs_in_and_publishes_a_submitted_train()
    {
        // A hub of its own that publishes nothing by itself: the train waits for the operator.
        var root = Directory.CreateTempSubdirectory("ht-console-e2e-").FullName;
        await using var federation = await LocalFederation.StartAsync(new FederationOptions(root)
        {
            RegistryStorageDir = Path.Combine(f.Root, "console-test-registry"), AutoPublishKinds = [],
        });
        using var alice = await federation.AddResearcherAsync("alice");
        var train = await federation.Publisher(f.Docker, alice).PushAsync(await f.FreshVariantAsync(f.Misbehaving));
        Assert.Equal(TrainStates.Checked, train.State);

        var page = await SignedInAsync(federation.HubUrl, federation.OperatorToken);
        Assert.Equal(1, await page.Locator($"tr[data-train='{train.Id}']").CountAsync());
        await page.ClickAsync($"tr[data-train='{train.Id}'] a >> nth=0");
        Assert.StartsWith("valid, key", await page.InnerTextAsync("#author-signature"));
        await page.FillAsync("form[action$='/publish'] input[name=reason]", "reviewed in the console");
        await page.ClickAsync("button:has-text('Publish')");
        await page.WaitForSelectorAsync("p.notice");
        Assert.Equal(TrainStates.Published, await page.InnerTextAsync("#train-state"));
        var hubKey = VerificationKey.Load(federation.HubPublicationKeyPath);
        Assert.Contains($"signed with key {hubKey.KeyId[..16]}… (the hub's current publication key)", await page.InnerTextAsync("#hub-signature"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-train-published"), FullPage = true });

        // What the API and the registry see: published by the operator, with the hub's signature on the digest.
        var published = await alice.GetTrainAsync(train.Id);
        Assert.Equal((TrainStates.Published, "operator", "reviewed in the console"), (published.State, published.DecidedBy, published.DecisionReason));
        using (var http = new HttpClient { BaseAddress = new Uri(federation.HubUrl, "/") })
        {
            var registry = new SignatureRegistry(http, new RegistryCredentials("alice", alice.Connection.Token));
            Assert.True((await registry.VerifyAsync(published.Repository, published.Digest, [hubKey])).IsSignedBy(hubKey));
        }
        var entries = (await alice.GetLedgerEntriesAsync(0, 100)).Select(e => e.Parse()).ToList();
        var decision = Assert.Single(entries, e => e.Kind == LedgerKinds.TrainPublished);
        Assert.Equal(("operator", $"train/{train.Id}", "reviewed in the console"), (decision.Actor, decision.Subject, decision.Payload["reason"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_runs_page_updates_as_its_rounds_complete()
    {
        var (train, stations) = await TrainingSetupAsync();
        var run = await f.Alice.StartRunAsync(new RunRequest(train.Id, stations, Rounds, Parameters()) { Training = new TrainingSettings { Strategy = "fedavg", Seed = 3 } });

        var page = await SignedInAsync(f.Federation.HubUrl, f.Federation.OperatorToken);
        await page.GotoAsync(new Uri(f.Federation.HubUrl, $"/console/runs/{run.Id}").ToString());
        Assert.Equal(1, await page.Locator("#progress tr[data-round='1']").CountAsync());
        Assert.Equal(0, await page.Locator("#progress tr[data-round='2']").CountAsync());
        // The page polls: round 2 shows up and the run ends on the page without a reload.
        await page.WaitForFunctionAsync("() => document.querySelector(\"#progress tr[data-round='2']\") !== null || document.getElementById('run-state').textContent !== 'running'",
            null, new PageWaitForFunctionOptions { Timeout = 600_000, PollingInterval = 500 });
        Assert.True(await page.Locator("#progress tr[data-round='2']").CountAsync() == 1, "round 2 never showed: " + await page.InnerTextAsync("main"));
        Assert.Equal(stations.Count, await page.Locator("#progress tr[data-round='1'] td.state-succeeded[data-station]").CountAsync());
        await page.WaitForFunctionAsync("() => document.getElementById('run-state').textContent !== 'running'", null,
            new PageWaitForFunctionOptions { Timeout = 600_000, PollingInterval = 500 });
        Assert.Equal(RunStates.Completed, await page.InnerTextAsync("#run-state"));
        Assert.Equal(stations.Count, await page.Locator($"#progress tr[data-round='{Rounds}'] td.state-succeeded[data-station]").CountAsync());
        Assert.True(int.Parse(await page.GetAttributeAsync("#progress", "data-refreshes") ?? "0", System.Globalization.CultureInfo.InvariantCulture) > 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-run-progress"), FullPage = true });
    }

    [Fact]
    public async Task A_model_versions_page_plots_its_runs_metrics()
    {
        var (train, stations) = await TrainingSetupAsync();
        var run = await f.Alice.StartRunAsync(new RunRequest(train.Id, stations, Rounds, Parameters()) { Training = new TrainingSettings { Strategy = "fedavg", Seed = 5 } });
        var done = await f.Alice.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(10));
        Assert.True(done.State == RunStates.Completed, string.Join("\n", done.Jobs.Select(j => $"round {j.Round} {j.Station}: {j.State} {j.Error}")));
        var versions = await f.Alice.ListModelsAsync(run.Id);

        var page = await SignedInAsync(f.Federation.HubUrl, f.Federation.OperatorToken);
        await page.GotoAsync(new Uri(f.Federation.HubUrl, $"/console/models/{run.Id}/{Rounds}").ToString());
        Assert.Equal(versions[^1].Digest, await page.InnerTextAsync("#model-digest"));
        Assert.Equal($"{run.Id}/{Rounds - 1}", await page.InnerTextAsync("#model-parent a"));
        var points = page.Locator("svg.plot[data-metric='global_auroc'] circle.point");
        Assert.Equal(Rounds, await points.CountAsync());
        for (var i = 0; i < Rounds; i++)
        {
            var value = double.Parse((await points.Nth(i).GetAttributeAsync("data-value"))!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(versions[i].Metrics["global_auroc"], value, 9);
        }
        Assert.Equal(stations.Count * Rounds, await page.Locator("svg.provenance g.node.activity[data-id^='ht:job/']").CountAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Chromium.ScreenshotPath("hub-console-model-version"), FullPage = true });
    }

    private static Dictionary<string, JsonElement> Parameters() => new() { ["epochs"] = JsonSerializer.SerializeToElement(2) };

    /// <summary>diabetes-risk, pushed once, and two stations of their own whose operators approve training trains by policy.</summary>
    private async Task<(TrainInfo Train, IReadOnlyList<string> Stations)> TrainingSetupAsync()
    {
        await Setup.WaitAsync();
        try
        {
            if (trainingTrain is null || consoleStations is null)
            {
                var quiet = new ImmediateProgress<string>(_ => { });
                var builder = new TrainImageBuilder(f.Docker, new BaseImageBuilder(f.Docker, BaseImageOptions.ForRepository(RepoPaths.Root), quiet), quiet);
                var image = await builder.BuildAsync(Path.Combine(RepoPaths.Root, "Trains", "Examples", "diabetes-risk"));
                var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(image.Reference);
                Assert.Equal(TrainStates.Published, train.State);
                string[] names = ["console-east", "console-west"];
                await Task.WhenAll(names.Select((name, i) => f.Federation.AddStationAsync(name, f.Slices.Parts[i].Folder, settings:
                    ["Approval:AutoApprove:1:Name=console-training", "Approval:AutoApprove:1:Kinds:0=training"])));
                (trainingTrain, consoleStations) = (train, names);
            }
            return (trainingTrain, consoleStations);
        }
        finally
        {
            Setup.Release();
        }
    }
}
