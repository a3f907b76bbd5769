using System.Net;
using HealthTrain.Station.Release;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Tests.OperatorConsole;

public sealed class ConsoleTests : IAsyncLifetime
{
    private ConsoleHost _host = null!;

    public async Task InitializeAsync() => _host = await ConsoleHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_operator_token_signs_in_with_an_httponly_strict_cookie_and_a_wrong_one_does_not()
    {
        using var client = _host.Client();
        var anonymous = await client.GetAsync("/console/approvals");
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        Assert.Equal("/console/sign-in", anonymous.Headers.Location!.OriginalString);

        var wrong = await ConsoleHost.PostFormAsync(client, "/console/sign-in", "/console/sign-in", new() { ["token"] = "st_not-the-token-at-all" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Contains("not a station operator token", await wrong.Content.ReadAsStringAsync());

        var right = await ConsoleHost.PostFormAsync(client, "/console/sign-in", "/console/sign-in", new() { ["token"] = ConsoleHost.OperatorToken });
        Assert.Equal(HttpStatusCode.Redirect, right.StatusCode);
        var session = Assert.Single(right.Headers.GetValues("Set-Cookie"), c => c.StartsWith("station_console=", StringComparison.Ordinal));
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/console", session, StringComparison.OrdinalIgnoreCase);

        var page = await client.GetAsync("/console/approvals");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("signed in as <b>dana</b>", await page.Content.ReadAsStringAsync());
        Assert.Contains("frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single());

        // Signing out ends the session: the cookie no longer opens pages.
        var signOut = await ConsoleHost.PostFormAsync(client, "/console/approvals", "/console/sign-out", []);
        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/console/jobs")).StatusCode);
    }

    [Fact]
    public async Task A_decision_without_a_session_is_refused_and_changes_nothing()
    {
        var approval = _host.Inspected("cohort", "1.0.0");
        using var client = _host.Client();
        // A valid form token of the sign-in page, but no session.
        var response = await ConsoleHost.PostFormAsync(client, "/console/sign-in", $"/console/approvals/{Uri.EscapeDataString(approval.Digest)}/approve", []);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(ApprovalStates.Pending, _host.Approvals.Find(approval.Digest)!.State);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/console/releases")).StatusCode);
    }

    [Fact]
    public async Task A_form_without_its_antiforgery_token_or_with_another_sessions_is_refused()
    {
        var approval = _host.Inspected("cohort", "1.0.0");
        var action = $"/console/approvals/{Uri.EscapeDataString(approval.Digest)}/approve";
        using var client = await _host.SignedInAsync();
        var bare = await client.PostAsync(action, new FormUrlEncodedContent(new Dictionary<string, string> { ["reason"] = "looks fine" }));
        Assert.Equal(HttpStatusCode.BadRequest, bare.StatusCode);
        Assert.Contains("did not come from a page of this console", await bare.Content.ReadAsStringAsync());

        // A token taken from an anonymous page does not carry the signed-in operator.
        using var other = _host.Client();
        var foreign = ConsoleHost.FormToken(await other.GetStringAsync("/console/sign-in"));
        var forged = await client.PostAsync(action, new FormUrlEncodedContent(new Dictionary<string, string> { ["__csrf"] = foreign }));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(ApprovalStates.Pending, _host.Approvals.Find(approval.Digest)!.State);
    }

    [Fact]
    public async Task Approving_and_rejecting_in_the_console_decide_in_the_approval_store_under_the_operators_name()
    {
        var first = _host.Inspected("cohort", "1.0.0");
        var second = _host.Inspected("cohort", "1.0.1");
        using var client = await _host.SignedInAsync();
        var firstPage = $"/console/approvals/{Uri.EscapeDataString(first.Digest)}";
        var report = await client.GetStringAsync(firstPage);
        Assert.Contains("fhir-resources", report);
        Assert.Contains("id, birth", report);
        Assert.Contains("65532:65532", report);
        Assert.Contains("no auto-approval rule matches", report);
        Assert.Contains(new string('b', 64), report);

        var approve = await ConsoleHost.PostFormAsync(client, firstPage, firstPage + "/approve", new() { ["reason"] = "counts only" });
        Assert.Equal(HttpStatusCode.Redirect, approve.StatusCode);
        var approved = _host.Approvals.Find(first.Digest)!;
        Assert.Equal((ApprovalStates.Approved, "dana", "counts only"), (approved.State, approved.DecidedBy, approved.Reason));

        var secondPage = $"/console/approvals/{Uri.EscapeDataString(second.Digest)}";
        var unexplained = await ConsoleHost.PostFormAsync(client, secondPage, secondPage + "/reject", new() { ["reason"] = "  " });
        Assert.Equal(HttpStatusCode.BadRequest, unexplained.StatusCode);
        Assert.Equal(ApprovalStates.Pending, _host.Approvals.Find(second.Digest)!.State);
        var reject = await ConsoleHost.PostFormAsync(client, secondPage, secondPage + "/reject", new() { ["reason"] = "asks for whole records" });
        Assert.Equal(HttpStatusCode.Redirect, reject.StatusCode);
        Assert.Equal(ApprovalStates.Rejected, _host.Approvals.Find(second.Digest)!.State);
        Assert.Equal(["approved"], _host.Approvals.History(first.Digest).Select(h => h.Decision));

        var list = await client.GetStringAsync("/console/approvals");
        Assert.Contains("No train waits for approval.", list);
        Assert.Contains("asks for whole records", list);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/console/approvals/sha256%3Aunknown")).StatusCode);
    }

    [Fact]
    public async Task Hostile_names_from_trains_and_jobs_are_shown_encoded()
    {
        const string hostile = "<img src=x onerror=alert(1)>";
        var approval = _host.Inspected(hostile, "1.0.0\"><script>alert(2)</script>", author: "eve'\"<b>");
        _host.History.Received(ConsoleHost.Job(11, train: hostile));
        _host.History.Finished(11, false, "run", "<script>alert(3)</script>", null);
        using var client = await _host.SignedInAsync();
        foreach (var page in new[] { "/console/approvals", $"/console/approvals/{Uri.EscapeDataString(approval.Digest)}", "/console/jobs", "/console/catalog" })
        {
            var html = await client.GetStringAsync(page);
            Assert.DoesNotContain("<img src=x", html);
            Assert.DoesNotContain("<script>", html);
            Assert.DoesNotContain("eve'\"<b>", html);
        }
        Assert.Contains("&lt;img src=x onerror=alert(1)&gt;", await client.GetStringAsync("/console/jobs"));
    }

    [Fact]
    public async Task A_held_statistics_result_shows_its_cells_and_is_released_once()
    {
        var statistics = new StatisticsResult { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Value = 42 },
            ["by_sex"] = new StatisticValue { Kind = "count", Categories = new() { ["female"] = 20, ["male"] = 22 } } } };
        _host.Releases.Hold(ConsoleHost.Job(21), TrainKinds.Statistics, new JobResultUpload(statistics, new JobTimings { TotalMs = 900 }), null, DateTimeOffset.UtcNow.AddHours(1));
        using var client = await _host.SignedInAsync();
        var page = await client.GetStringAsync("/console/releases/21");
        Assert.Contains("value = 42", page);
        Assert.Contains("female = 20", page);
        Assert.Matches("digest <code>sha256:[0-9a-f]{64}</code>", page);

        var release = await ConsoleHost.PostFormAsync(client, "/console/releases/21", "/console/releases/21/release", []);
        Assert.Equal(HttpStatusCode.Redirect, release.StatusCode);
        var held = _host.Releases.Find(21)!;
        Assert.Equal((ReleaseStates.Released, "dana"), (held.State, held.DecidedBy));
        // Decided once: the job worker may already be sending it.
        var again = await ConsoleHost.PostFormAsync(client, "/console/releases/21", "/console/releases/21/withhold", new() { ["reason"] = "second thoughts" });
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(ReleaseStates.Released, _host.Releases.Find(21)!.State);
    }

    [Fact]
    public async Task A_held_update_shows_its_tensors_and_is_withheld_only_with_a_reason()
    {
        var update = Path.Combine(_host.DataDir, "job-22.safetensors");
        File.WriteAllBytes(update, SafeTensors.ToBytes([SafeTensors.Float32("fc.weight", [2, 2], [3, 0, 0, 4]), SafeTensors.Float32("fc.bias", [2], [1, 0])]));
        _host.Releases.Hold(ConsoleHost.Job(22), TrainKinds.Training,
            new JobResultUpload(new StatisticsResult(), new JobTimings()) { Update = new ModelUpdateSummary("", 120, new Dictionary<string, double> { ["loss"] = 0.5 }) },
            update, DateTimeOffset.UtcNow.AddHours(1));
        using var client = await _host.SignedInAsync();
        var page = await client.GetStringAsync("/console/releases/22");
        Assert.Contains("<td>fc.weight</td><td>float32</td><td>[2, 2]</td><td>16 B</td><td>5</td>", page);
        Assert.Contains("<td>fc.bias</td><td>float32</td><td>[2]</td><td>8 B</td><td>1</td>", page);
        var digest = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(update)));
        Assert.Contains(digest, page);
        Assert.Contains("Trained on 120 samples", page);

        var unexplained = await ConsoleHost.PostFormAsync(client, "/console/releases/22", "/console/releases/22/withhold", new() { ["reason"] = "" });
        Assert.Equal(HttpStatusCode.BadRequest, unexplained.StatusCode);
        Assert.Equal(ReleaseStates.Waiting, _host.Releases.Find(22)!.State);
        var withhold = await ConsoleHost.PostFormAsync(client, "/console/releases/22", "/console/releases/22/withhold", new() { ["reason"] = "norm too large" });
        Assert.Equal(HttpStatusCode.Redirect, withhold.StatusCode);
        var held = _host.Releases.Find(22)!;
        Assert.Equal((ReleaseStates.Withheld, "dana", "norm too large"), (held.State, held.DecidedBy, held.Reason));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/console/releases/99")).StatusCode);
    }

    [Fact]
    public async Task Job_history_and_data_catalog_come_from_the_stations_stores()
    {
        _host.History.Received(ConsoleHost.Job(31));
        _host.History.Started(31);
        _host.History.Finished(31, true, null, null, new JobTimings { TotalMs = 1234, RunMs = 1000 });
        using (var batch = _host.Store.BeginBatch())
        {
            batch.Upsert(new HealthTrain.Station.Fhir.FhirResourceRow("Patient", "p1", "2024-01-01T00:00:00Z", null, """{"resourceType":"Patient","id":"p1"}"""));
            batch.Upsert(new HealthTrain.Station.Fhir.FhirResourceRow("Patient", "p2", "2024-01-01T00:00:00Z", null, """{"resourceType":"Patient","id":"p2"}"""));
            batch.Commit();
        }
        _host.Inspected("cohort", "1.0.0");
        using var client = await _host.SignedInAsync();
        var jobs = await client.GetStringAsync("/console/jobs");
        Assert.Matches("<td class=\"state succeeded\">succeeded</td><td><a href=\"/console/approvals/sha256%3Ad{64}\">cohort 1.0.0</a></td><td>7 / 2</td>", jobs);
        Assert.Contains("1234 ms (train 1000 ms)", jobs);

        var catalog = await client.GetStringAsync("/console/catalog");
        Assert.Contains("<td>Patient</td><td>2</td>", catalog);
        Assert.Contains("Station: starting; 0 job(s) succeeded", catalog);
        Assert.Contains("<td>ages</td><td>Patient</td><td>id, birth (date)</td><td>cohort 1.0.0 (pending)</td>", catalog);
        // The shared views travel with the station.
        Assert.Contains("fhir-mappings/views", catalog);
    }

    [Fact]
    public void The_release_policy_names_only_train_kinds()
    {
        Assert.Empty(new ReleaseOptions { Manual = [TrainKinds.Training] }.Validate());
        var problems = new ReleaseOptions { Manual = ["models"], WaitHours = 0 }.Validate();
        Assert.Contains(problems, p => p.Contains("'models' is not a train kind", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("WaitHours", StringComparison.Ordinal));
    }
}
