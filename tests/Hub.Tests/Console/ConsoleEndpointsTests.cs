using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Dapper;
using HealthTrain.Hub.Console;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Extensions.DependencyInjection;

namespace HealthTrain.Hub.Tests.Console;

/// <summary>The operator console on the whole hub in this process: who gets in, forged forms, encoding, the plots, the provenance picture and the ledger check.</summary>
public sealed partial class ConsoleEndpointsTests : IAsyncLifetime
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private ConsoleHub hub = null!;

    public async Task InitializeAsync() => hub = await ConsoleHub.StartAsync();

    public async Task DisposeAsync() => await hub.DisposeAsync();

    private HttpClient Browser(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = hub.BaseAddress };

    [GeneratedRegex("name=\"csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    private static async Task<string> CsrfAsync(HttpClient browser, string page)
    {
        var html = await browser.GetStringAsync(page);
        return WebUtility.HtmlDecode(CsrfField().Match(html) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException($"{page} has no antiforgery field:\n{html}"));
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient browser, string path, string? csrf, params (string Name, string Value)[] fields)
    {
        var form = fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)).ToList();
        if (csrf is not null) form.Add(new("csrf", csrf));
        return await browser.PostAsync(path, new FormUrlEncodedContent(form));
    }

    private async Task<HttpClient> SignedInAsync()
    {
        var browser = Browser();
        var response = await PostAsync(browser, "/console/sign-in", await CsrfAsync(browser, "/console/sign-in"), ("token", hub.OperatorToken), ("returnUrl", "/console/runs"));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return browser;
    }

    [Fact]
    public async Task An_operator_signs_in_with_a_token_and_gets_an_HttpOnly_SameSite_Strict_session_cookie()
    {
        using var browser = Browser();
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/console/trains")).StatusCode);
        var csrf = await CsrfAsync(browser, "/console/sign-in?returnUrl=/console/ledger");
        var response = await PostAsync(browser, "/console/sign-in", csrf, ("token", hub.OperatorToken), ("returnUrl", "/console/ledger"));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/console/ledger", response.Headers.Location?.OriginalString);
        var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith(ConsoleAccess.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(hub.OperatorToken, cookie);
        var page = await browser.GetAsync("/console/ledger");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("signed in as <b>operator</b>", await page.Content.ReadAsStringAsync());

        // After signing in the browser goes back into the console only, never to another site.
        using var again = Browser();
        var elsewhere = await PostAsync(again, "/console/sign-in", await CsrfAsync(again, "/console/sign-in"), ("token", hub.OperatorToken), ("returnUrl", "//evil.example/console"));
        Assert.Equal("/console", elsewhere.Headers.Location?.OriginalString);

        // Signing out ends the session.
        Assert.Equal(HttpStatusCode.Redirect, (await PostAsync(browser, "/console/sign-out", await CsrfAsync(browser, "/console/ledger"))).StatusCode);
        var after = await browser.GetAsync("/console/ledger");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.StartsWith("/console/sign-in", after.Headers.Location!.AbsolutePath);
    }

    [Theory]
    [InlineData(Roles.Researcher)]
    [InlineData(Roles.Station)]
    public async Task Researchers_and_stations_are_refused_at_sign_in(string role)
    {
        var token = hub.Identities.Create("someone-" + role, role).Token;
        using var browser = Browser();
        var response = await PostAsync(browser, "/console/sign-in", await CsrfAsync(browser, "/console/sign-in"), ("token", token));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains($"is a {role}: only hub operators may use the console", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith(ConsoleAccess.CookieName + "=", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/console/trains")).StatusCode);

        var unknown = await PostAsync(browser, "/console/sign-in", await CsrfAsync(browser, "/console/sign-in"), ("token", "ht_not-a-token"));
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Contains("unknown token", await unknown.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_console_takes_only_its_cookie_and_the_API_never_takes_the_cookie()
    {
        using var bearer = Browser();
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", hub.OperatorToken);
        Assert.Equal(HttpStatusCode.Redirect, (await bearer.GetAsync("/console/trains")).StatusCode);

        using var browser = await SignedInAsync();
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/console/trains")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/api/trains")).StatusCode);

        // A session ends when its operator's token is replaced.
        hub.Identities.SetToken("operator", Identities.NewToken());
        Assert.Equal(HttpStatusCode.Redirect, (await browser.GetAsync("/console/trains")).StatusCode);
    }

    [Fact]
    public async Task A_form_without_a_valid_antiforgery_token_is_refused_and_changes_nothing()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        var train = hub.Train(alice, "cohort", "1.0.0", ConsoleHub.StatisticsManifest, ConsoleHub.Passing());
        Assert.Equal(TrainStates.Checked, train.State);
        using var browser = await SignedInAsync();

        var missing = await PostAsync(browser, $"/console/trains/{train.Id}/reject", null, ("reason", "no"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("antiforgery token is missing or stale", await missing.Content.ReadAsStringAsync());
        // A token from another browser's session (here: an anonymous sign-in page) does not pass either.
        using var other = Browser();
        var foreign = await PostAsync(browser, $"/console/trains/{train.Id}/reject", await CsrfAsync(other, "/console/sign-in"), ("reason", "no"));
        Assert.Equal(HttpStatusCode.BadRequest, foreign.StatusCode);
        Assert.Equal(TrainStates.Checked, hub.Catalog.Find(train.Id, alice)!.State);

        var csrf = await CsrfAsync(browser, $"/console/trains/{train.Id}");
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync(browser, $"/console/trains/{train.Id}/reject", csrf, ("reason", "  "))).StatusCode);
        var rejected = await PostAsync(browser, $"/console/trains/{train.Id}/reject", csrf, ("reason", "reads more than it declares"));
        Assert.Equal(HttpStatusCode.Redirect, rejected.StatusCode);
        var decided = hub.Catalog.Find(train.Id, alice)!;
        Assert.Equal(TrainStates.Rejected, decided.State);
        Assert.Equal("operator", decided.DecidedBy);
        var ledger = hub.Services.GetRequiredService<LedgerStore>();
        var last = ledger.Entries(ledger.Head().TreeSize - 1, 1).Single().Parse();
        Assert.Equal((LedgerKinds.TrainRejected, "operator", $"train/{train.Id}"), (last.Kind, last.Actor, last.Subject));
        Assert.Equal("reads more than it declares", last.Payload["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Publishing_goes_through_the_hubs_publication_and_reports_a_registry_it_cannot_reach()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        var train = hub.Train(alice, "cohort", "1.0.0", ConsoleHub.StatisticsManifest, ConsoleHub.Passing());
        using var browser = await SignedInAsync();
        var size = hub.Services.GetRequiredService<LedgerStore>().Head().TreeSize;

        var response = await PostAsync(browser, $"/console/trains/{train.Id}/publish", await CsrfAsync(browser, $"/console/trains/{train.Id}"), ("reason", "reviewed"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("the registry could not take the hub&#x27;s signature", await response.Content.ReadAsStringAsync());
        Assert.Equal(TrainStates.Checked, hub.Catalog.Find(train.Id, alice)!.State);
        Assert.Equal(size, hub.Services.GetRequiredService<LedgerStore>().Head().TreeSize);

        // A train whose checks failed cannot be published: the same refusal as the API's.
        var unsigned = hub.Train(alice, "cohort", "1.0.1", ConsoleHub.StatisticsManifest, new TrainCheck(TrainChecks.AuthorSignature, false, "the image has no signature"));
        var refused = await PostAsync(browser, $"/console/trains/{unsigned.Id}/publish", await CsrfAsync(browser, $"/console/trains/{unsigned.Id}"));
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("has not passed the hub&#x27;s checks: author-signature: the image has no signature", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Hostile_names_and_messages_are_HTML_encoded_on_every_page()
    {
        const string script = "<script>alert(1)</script>";
        const string image = "\"><img src=x onerror=alert(2)>";
        var owner = hub.Identity(script, Roles.Researcher);
        var station = hub.Identity("st-" + image, Roles.Station);
        var train = hub.Published(hub.Train(owner, "cohort", "1.0.0", ConsoleHub.StatisticsManifest, [.. ConsoleHub.Passing(), new TrainCheck("extra", true, image)]));
        var runId = hub.Runs.Create(owner, train, [station.Id], 1, new() { ["note"] = script });
        var job = await hub.Queue.NextAsync(station, TimeSpan.Zero, default);
        hub.Queue.Fail(station, job!.JobId, new JobFailureReport("train", image + script));
        var rejected = hub.Train(owner, "other", "1.0.0", ConsoleHub.StatisticsManifest, ConsoleHub.Passing());
        using var browser = await SignedInAsync();
        var csrf = await CsrfAsync(browser, $"/console/trains/{rejected.Id}");
        await PostAsync(browser, $"/console/trains/{rejected.Id}/reject", csrf, ("reason", script));

        foreach (var page in new[] { "/console/trains", $"/console/trains/{train.Id}", $"/console/trains/{rejected.Id}", "/console/runs", $"/console/runs/{runId}", "/console/ledger" })
        {
            var html = await browser.GetStringAsync(page);
            Assert.DoesNotContain(script, html);
            Assert.DoesNotContain("<img src=x", html);
            Assert.True(html.Contains("&lt;script&gt;alert(1)&lt;/script&gt;"), page + "\n" + html);
        }
        // The poller's JSON carries names as data (its script puts them in text nodes), never to be sniffed as a page.
        var progress = await browser.GetAsync($"/console/runs/{runId}/progress");
        Assert.Equal("application/json", progress.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", progress.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal([station.Name], (await progress.Content.ReadFromJsonAsync<RunProgress>(Json))!.Stations);
    }

    [Fact]
    public async Task A_model_version_page_plots_the_runs_metrics_per_round_and_draws_its_provenance()
    {
        var (runId, jobs) = await TrainThreeRoundsAsync();
        using var browser = await SignedInAsync();

        var html = await browser.GetStringAsync($"/console/models/{runId}/2");
        var auroc = Points(html, "global_auroc");
        Assert.Equal([(1, 0.6), (2, 0.7), (3, 0.8)], auroc.Select(p => (p.Round, Math.Round(p.Value, 6))));
        Assert.True(auroc[0].Cy > auroc[1].Cy && auroc[1].Cy > auroc[2].Cy, "a larger AUROC is drawn higher");
        Assert.Equal([(1, 0.9), (2, 0.5), (3, 0.3)], Points(html, "train_loss").Select(p => (p.Round, Math.Round(p.Value, 6))));
        Assert.Contains("class=\"point current\" data-round=\"2\"", html);
        var round1 = await hub.VersionAsync(runId, 1);
        Assert.Contains($"<a href=\"/console/models/{runId}/1\">{runId}/1</a> <code>{round1.Digest}</code>", html);

        var response = await browser.GetAsync($"/console/models/{runId}/2/provenance.svg");
        Assert.Equal("image/svg+xml", response.Content.Headers.ContentType?.MediaType);
        var svg = XDocument.Parse(await response.Content.ReadAsStringAsync());
        XNamespace s = "http://www.w3.org/2000/svg";
        var nodes = svg.Descendants(s + "g").Where(g => ((string?)g.Attribute("class"))?.StartsWith("node", StringComparison.Ordinal) == true)
            .ToDictionary(g => (string)g.Attribute("data-id")!);
        // Rounds 1 and 2 only: four station executions, their results, two merges; round 3 is not this version's past.
        Assert.Equal(jobs.Where(j => j.Round <= 2).Select(j => $"ht:job/{j.Id}").Order(), nodes.Keys.Where(k => k.StartsWith("ht:job/", StringComparison.Ordinal)).Order());
        Assert.Equal(4, nodes.Keys.Count(k => k.StartsWith("ht:result/", StringComparison.Ordinal)));
        Assert.Contains("ht:identity/alice", nodes.Keys);
        Assert.Contains("ht:hub", nodes.Keys);
        var version = nodes[HealthTrain.Hub.Runs.RunProvenance.ModelId(await hub.VersionAsync(runId, 2))];
        Assert.Contains("highlight", (string)version.Attribute("class")!);
        Assert.Contains("model sha256:", version.Value);
        // Each node names its ledger entry: the dispatch of a job is the entry the ledger holds for that job.
        var ledger = hub.Services.GetRequiredService<LedgerStore>();
        var entries = ledger.Entries(0, (int)ledger.Head().TreeSize).Select(e => e.Parse()).ToList();
        var first = jobs.First();
        var dispatched = entries.First(e => e.Kind == LedgerKinds.JobDispatched && e.Subject == $"job/{first.Id}");
        Assert.Contains($"ledger #{dispatched.Index}", nodes[$"ht:job/{first.Id}"].Value);
        var merge = entries.First(e => e.Kind == LedgerKinds.MergeCompleted && e.Subject == $"run/{runId}/round/2");
        var version2 = await hub.VersionAsync(runId, 2);
        var versioned = entries.Single(e => e.Kind == LedgerKinds.ModelVersioned && e.Subject == $"model/{version2.Id}");
        Assert.Contains($"<dd id=\"model-ledger\">ledger entry #{versioned.Index} (model.versioned)</dd>", html);
        Assert.Contains($"ledger #{merge.Index}", nodes[$"ht:merge/run/{runId}/round/2"].Value);
        // Laid out along the flow: train, then executions, then results, then the merge, then the version.
        double X(string id) => double.Parse(nodes[id].Descendants(s + "text").First().Attribute("x")!.Value, CultureInfo.InvariantCulture);
        Assert.True(X($"ht:job/{first.Id}") < X($"ht:result/job/{first.Id}") && X($"ht:result/job/{first.Id}") < X($"ht:merge/run/{runId}/round/2")
            && X($"ht:merge/run/{runId}/round/2") < X(HealthTrain.Hub.Runs.RunProvenance.ModelId(version2)));

        var list = await browser.GetStringAsync("/console/models");
        Assert.Contains($"href=\"/console/models/{runId}/3\"", list);
    }

    [Fact]
    public async Task The_run_page_and_its_progress_JSON_show_each_station_per_round()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        var a = hub.Identity("hospital-a", Roles.Station);
        var b = hub.Identity("hospital-b", Roles.Station);
        var train = hub.Published(hub.Train(alice, "risk", "1.0.0", ConsoleHub.TrainingManifest, ConsoleHub.Passing()));
        var runId = hub.TrainingRun(alice, train, [a, b], 2);
        var job = await hub.Queue.NextAsync(b, TimeSpan.Zero, default);
        hub.Queue.MarkAwaitingApproval(b, job!.JobId, new JobAwaitingApproval("a person at hospital-b decides", 600));
        using var browser = await SignedInAsync();

        var progress = await browser.GetFromJsonAsync<RunProgress>($"/console/runs/{runId}/progress", Json);
        Assert.Equal(["hospital-a", "hospital-b"], progress!.Stations);
        Assert.Equal(["hospital-b"], progress.AwaitingApproval);
        var round = Assert.Single(progress.RoundList);
        Assert.Equal([JobStates.Queued, JobStates.AwaitingApproval], round.Jobs.OrderBy(j => j.Station).Select(j => j.State));

        await hub.ContributeAsync(a, 1, 10, new Dictionary<string, double> { ["global_auroc"] = 0.5 });
        hub.Queue.Fail(b, job.JobId, new JobFailureReport("approval", "refused by the station's operator"));
        progress = await browser.GetFromJsonAsync<RunProgress>($"/console/runs/{runId}/progress", Json);
        Assert.Equal("hospital-b", Assert.Single(progress!.Failed).Station);
        Assert.Equal(1, progress.Succeeded);

        var html = await browser.GetStringAsync($"/console/runs/{runId}");
        Assert.Contains("data-progress=\"/console/runs/", html);
        Assert.Matches("<td class=\"state state-succeeded\" data-station=\"hospital-a\"", html);
        Assert.Matches("<td class=\"state state-failed\" data-station=\"hospital-b\"", html);
        Assert.Contains("<script nonce=", html);
    }

    [Fact]
    public async Task The_ledger_check_passes_on_the_stored_log_and_names_the_entry_changed_behind_the_hubs_back()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        for (var i = 0; i < 4; i++) hub.Train(alice, "cohort", $"1.0.{i}", ConsoleHub.StatisticsManifest, ConsoleHub.Passing());
        using var browser = await SignedInAsync();
        var ledger = hub.Services.GetRequiredService<LedgerStore>();
        var size = ledger.Head().TreeSize;

        var ok = await (await PostAsync(browser, "/console/ledger/verify", await CsrfAsync(browser, "/console/ledger"))).Content.ReadAsStringAsync();
        Assert.Contains("data-ok=\"true\"", ok);
        Assert.Contains($"Verified: {size} entries and {ledger.Heads().Count} signed tree heads", ok);

        // Someone with write access to the database edits one of alice's later entries to name another actor.
        var target = ledger.Entries(1, (int)size).Select(e => e.Parse()).First(e => e.Actor == "alice").Index;
        var db = hub.Services.GetRequiredService<HubDatabase>();
        using (var c = db.Open())
        {
            var leaf = c.QuerySingle<byte[]>("SELECT leaf FROM ledger_entries WHERE idx = @target", new { target });
            var forged = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(leaf).Replace("\"actor\":\"alice\"", "\"actor\":\"mallory\""));
            Assert.NotEqual(leaf, forged);
            c.Execute("UPDATE ledger_entries SET leaf = @forged WHERE idx = @target", new { forged, target });
        }
        var bad = await (await PostAsync(browser, "/console/ledger/verify", await CsrfAsync(browser, "/console/ledger"))).Content.ReadAsStringAsync();
        Assert.Contains("data-ok=\"false\"", bad);
        Assert.Contains($"<b>EntrySignatureInvalid</b> at entry {target}", bad);
        Assert.Contains($"<b>EntryChanged</b> at entry {target}", bad);
    }

    [Fact]
    public void The_plot_puts_known_metrics_at_known_coordinates()
    {
        var svg = MetricsPlot.Panel("global_auroc",
            [new RoundMetrics(1, new Dictionary<string, double> { ["global_auroc"] = 0 }), new RoundMetrics(3, new Dictionary<string, double> { ["global_auroc"] = 1 }),
             new RoundMetrics(2, new Dictionary<string, double> { ["global_auroc"] = 0.5 }), new RoundMetrics(4, new Dictionary<string, double> { ["train_loss"] = 2 })], 2).Value;
        var points = Points(svg, "global_auroc");
        // 340 × 180 panel, plot area x 56..326, y 28..150: round 1 → left, round 3 → right; 0 → bottom, 1 → top.
        Assert.Equal([(1, 56.0, 150.0), (2, 191.0, 89.0), (3, 326.0, 28.0)], points.Select(p => (p.Round, p.Cx, p.Cy)));
        Assert.Contains("points=\"56,150 191,89 326,28\"", svg);
        Assert.Equal("", MetricsPlot.Panel("missing", [new RoundMetrics(1, new Dictionary<string, double> { ["x"] = 1 })], null).Value);
    }

    [GeneratedRegex("<circle class=\"point[^\"]*\" data-round=\"(\\d+)\" data-value=\"([^\"]+)\" cx=\"([^\"]+)\" cy=\"([^\"]+)\"")]
    private static partial Regex Circle();

    /// <summary>The points of one metric's panel, in round order.</summary>
    private static List<(int Round, double Value, double Cx, double Cy)> Points(string html, string metric)
    {
        var start = html.IndexOf($"data-metric=\"{metric}\"", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no plot of {metric}");
        var panel = html[start..html.IndexOf("</svg>", start, StringComparison.Ordinal)];
        return [.. Circle().Matches(panel).Select(m => (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture)))];
    }

    /// <summary>Two stations train three rounds; the hub's merger makes a version per round with AUROC 0.6, 0.7, 0.8 and loss 0.9, 0.5, 0.3.</summary>
    private async Task<(long RunId, List<(long Id, int Round)> Jobs)> TrainThreeRoundsAsync()
    {
        var alice = hub.Identity("alice", Roles.Researcher);
        var stations = new[] { hub.Identity("hospital-a", Roles.Station), hub.Identity("hospital-b", Roles.Station) };
        var train = hub.Published(hub.Train(alice, "risk", "1.0.0", ConsoleHub.TrainingManifest, ConsoleHub.Passing()));
        var runId = hub.TrainingRun(alice, train, stations, 3);
        double[] auroc = [0.6, 0.7, 0.8], loss = [0.9, 0.5, 0.3];
        var jobs = new List<(long, int)>();
        for (var round = 1; round <= 3; round++)
        {
            foreach (var station in stations)
                jobs.Add((await hub.ContributeAsync(station, round, 10 * round,
                    new Dictionary<string, double> { ["global_auroc"] = auroc[round - 1], ["train_loss"] = loss[round - 1] }), round));
            await hub.VersionAsync(runId, round);
        }
        return (runId, jobs);
    }
}
