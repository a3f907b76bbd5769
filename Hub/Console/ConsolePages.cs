using System.Security.Cryptography;
using System.Text.Json;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.AspNetCore.Antiforgery;
using static HealthTrain.Hub.Console.Markup;

namespace HealthTrain.Hub.Console;

/// <summary>A run's progress as the run page shows it and its script polls it: every round's jobs by station.</summary>
public sealed record RunProgress(long Id, string Train, string State, int CurrentRound, int Rounds, IReadOnlyList<string> Stations,
    IReadOnlyList<RoundProgress> RoundList, IReadOnlyList<string> AwaitingApproval, IReadOnlyList<FailedJob> Failed, int Succeeded, int Total)
{
    public static RunProgress Of(RunInfo run, RunResults? results)
    {
        var stations = run.Jobs.Select(j => j.Station).Distinct().Order(StringComparer.Ordinal).ToList();
        var roundStates = results?.Rounds.ToDictionary(r => r.Round) ?? [];
        var rounds = run.Jobs.GroupBy(j => j.Round).OrderBy(g => g.Key).Select(g => new RoundProgress(g.Key,
                roundStates.TryGetValue(g.Key, out var r) ? r.State : RoundStates.Open, roundStates.TryGetValue(g.Key, out var e) ? e.Error : null,
                [.. g.Select(j => new JobProgress(j.Id, j.Station, j.State, j.Attempts, j.Error))]))
            .ToList();
        return new RunProgress(run.Id, run.Train, run.State, run.CurrentRound, run.Rounds, stations, rounds,
            [.. run.Jobs.Where(j => j.State == JobStates.AwaitingApproval).Select(j => j.Station).Distinct().Order(StringComparer.Ordinal)],
            [.. run.Jobs.Where(j => j.State == JobStates.Failed).Select(j => new FailedJob(j.Station, j.Round, j.Error))],
            run.Jobs.Count(j => j.State == JobStates.Succeeded), run.Jobs.Count);
    }
}

/// <summary>One round of a run's progress.</summary>
public sealed record RoundProgress(int Number, string State, string? Error, IReadOnlyList<JobProgress> Jobs);

/// <summary>One station's job in a round.</summary>
public sealed record JobProgress(long Id, string Station, string State, int Attempts, string? Error);

/// <summary>A failed job, with the reason the station or hub gave.</summary>
public sealed record FailedJob(string Station, int Round, string? Error);

/// <summary>
/// The console's pages, rendered on the server. Every value goes through <see cref="Markup.Html"/>, which HTML-encodes it;
/// the only script is the run page's poller, allowed by a per-response CSP nonce.
/// </summary>
public static class ConsolePages
{
    /// <summary>A full page in the console's layout, with headers that keep it out of frames and caches.</summary>
    public static IResult Page(HttpContext http, string title, Markup body, int status = StatusCodes.Status200OK, Markup script = default)
    {
        var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = $"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; script-src 'nonce-{nonce}'";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        var user = http.User.Identity is { IsAuthenticated: true, AuthenticationType: ConsoleAccess.Scheme } identity ? identity.Name : null;
        var nav = user is null ? Markup.Empty : Html($"""
            <nav><a href="/console/trains">Trains</a><a href="/console/runs">Runs</a><a href="/console/models">Model versions</a><a href="/console/ledger">Ledger</a>
            <span class="who">signed in as <b>{user}</b></span>{Form(http, "/console/sign-out", Html($"<button class=\"link\">Sign out</button>"), "sign-out")}</nav>
            """);
        var scriptTag = script.Value is null or "" ? Markup.Empty : Html($"<script nonce=\"{nonce}\">{script}</script>");
        var html = Html($"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{title} · HealthTrain hub</title>{new Markup(Css)}</head>
            <body><header><a class="brand" href="/console">HealthTrain hub</a>{nav}</header>
            <main><h1>{title}</h1>
            {body}
            </main>{scriptTag}</body></html>
            """);
        return Results.Content(html.Value, "text/html; charset=utf-8", statusCode: status);
    }

    /// <summary>A POST form carrying the antiforgery token.</summary>
    public static Markup Form(HttpContext http, string action, Markup fields, string? cssClass = null)
    {
        var tokens = http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http);
        return Html($"<form method=\"post\" action=\"{action}\" class=\"{cssClass}\"><input type=\"hidden\" name=\"{tokens.FormFieldName}\" value=\"{tokens.RequestToken}\">{fields}</form>");
    }

    public static Markup Notice(string? text, bool error = false) =>
        string.IsNullOrEmpty(text) ? Markup.Empty : Html($"<p class=\"{(error ? "error" : "notice")}\" role=\"status\">{text}</p>");

    public static Markup SignIn(HttpContext http, string returnUrl, string? refusal) => Html($"""
        {Notice(refusal, error: true)}
        <p>Paste a hub operator token (<code>ht_…</code>). The hub keeps only a session cookie in this browser, never the token.</p>
        {Form(http, "/console/sign-in", Html($"""
            <input type="hidden" name="returnUrl" value="{returnUrl}">
            <label>Operator token <input type="password" name="token" autocomplete="off" required autofocus></label>
            <button>Sign in</button>
            """), "stack")}
        """);

    public static Markup Trains(IReadOnlyList<TrainInfo> trains)
    {
        Markup Section(string heading, string state, string empty)
        {
            var rows = trains.Where(t => t.State == state).OrderByDescending(t => t.Id).Select(t => Html($"""
                <tr data-train="{t.Id}"><td><a href="/console/trains/{t.Id}">#{t.Id}</a></td><td><a href="/console/trains/{t.Id}">{t.Repository}:{t.Version}</a></td>
                <td>{t.Kind}</td><td>{t.Owner}</td><td>{State(t.State)}</td><td>{AuthorSignature(t)}</td><td>{HubSignature(t, null)}</td><td>{Time(t.SubmittedAt)}</td></tr>
                """)).ToList();
            return Html($"""
                <h2>{heading} <span class="count">{rows.Count}</span></h2>
                {(rows.Count == 0 ? Html($"<p class=\"muted\">{empty}</p>") : Html($"""
                    <table><thead><tr><th>Id</th><th>Train</th><th>Kind</th><th>Owner</th><th>State</th><th>Author signature</th><th>Hub signature</th><th>Submitted</th></tr></thead>
                    <tbody>{rows}</tbody></table>
                    """))}
                """);
        }
        return Html($"""
            {Section("Checked, waiting for a decision", TrainStates.Checked, "No train waits for a decision.")}
            {Section("Submitted, checks not passed", TrainStates.Submitted, "None.")}
            {Section("Published", TrainStates.Published, "None yet.")}
            {Section("Rejected", TrainStates.Rejected, "None.")}
            """);
    }

    public static Markup Train(HttpContext http, TrainInfo t, PublicationKey publicationKey, string? notice, string? error)
    {
        var checks = t.Checks.Count == 0 ? Html($"<p class=\"muted\">The hub has not checked this train yet.</p>") : Html($"""
            <table class="checks"><thead><tr><th>Check</th><th>Result</th><th>What the hub found</th></tr></thead><tbody>
            {t.Checks.Select(c => Html($"<tr data-check=\"{c.Name}\"><td>{c.Name}</td><td>{(c.Passed ? Html($"<span class=\"ok\">passed</span>") : Html($"<span class=\"bad\">failed</span>"))}</td><td>{c.Detail}</td></tr>"))}
            </tbody></table>
            """);
        var open = t.State is not (TrainStates.Published or TrainStates.Rejected);
        var actions = !open ? Markup.Empty : Html($"""
            <h2>Decision</h2>
            <div class="actions">
            {(t.State == TrainStates.Checked
                ? Form(http, $"/console/trains/{t.Id}/publish", Html($"""
                    <label>Reason (recorded in the ledger) <input name="reason" placeholder="reviewed the manifest"></label>
                    <button class="primary">Publish</button>
                    """), "stack")
                : Html($"<p class=\"muted\">Only a checked train can be published: every check above must pass first.</p>"))}
            {Form(http, $"/console/trains/{t.Id}/reject", Html($"""
                <label>Reason for the rejection <input name="reason" required></label>
                <button class="danger">Reject</button>
                """), "stack")}
            </div>
            """);
        var m = t.Manifest;
        return Html($"""
            {Notice(notice)}{Notice(error, error: true)}
            <dl class="facts">
            <dt>State</dt><dd id="train-state">{State(t.State)}</dd>
            <dt>Image</dt><dd><code>{t.Repository}@{t.Digest}</code></dd>
            <dt>Kind</dt><dd>{t.Kind}</dd>
            <dt>Owner</dt><dd>{t.Owner}</dd>
            <dt>Submitted</dt><dd>{Time(t.SubmittedAt)}</dd>
            <dt>Author signature</dt><dd id="author-signature">{AuthorSignature(t)}</dd>
            <dt>Hub publication signature</dt><dd id="hub-signature">{HubSignature(t, publicationKey)}</dd>
            {(t.DecidedBy is null ? Markup.Empty : Html($"<dt>Decided</dt><dd>by {t.DecidedBy} at {Time(t.DecidedAt)}{(t.DecisionReason is null ? Markup.Empty : Html($": “{t.DecisionReason}”"))}</dd>"))}
            <dt>Manifest</dt><dd>{m.Name} {m.Version}: {m.Inputs.Count} input(s), {m.Outputs.Statistics.Count} statistic(s), {m.Outputs.Tensors.Count} tensor(s); timeout {m.Resources.TimeoutSeconds} s, memory {m.Resources.MemoryMb} MB</dd>
            </dl>
            <h2>Checks</h2>
            {checks}
            {actions}
            <details><summary>Manifest JSON</summary><pre>{JsonSerializer.Serialize(m, ProtocolJson.Options)}</pre></details>
            """);
    }

    private static Markup AuthorSignature(TrainInfo t)
    {
        var check = t.Checks.FirstOrDefault(c => c.Name == TrainChecks.AuthorSignature);
        if (check is null) return Html($"<span class=\"muted\">not checked</span>");
        return check.Passed
            ? Html($"<span class=\"ok\" title=\"{check.Detail}\">valid, key {Short(t.AuthorKeyId, 16)}</span>")
            : Html($"<span class=\"bad\" title=\"{check.Detail}\">missing or invalid</span>");
    }

    private static Markup HubSignature(TrainInfo t, PublicationKey? current)
    {
        if (t.PublicationKeyId is null) return Html($"<span class=\"muted\">{(t.State == TrainStates.Rejected ? "none: rejected" : "none yet")}</span>");
        var which = current is null ? "" : current.Key.KeyId == t.PublicationKeyId ? " (the hub's current publication key)" : " (not the hub's current publication key)";
        return Html($"<span class=\"ok\">signed with key {Short(t.PublicationKeyId, 16)}{which}</span>");
    }

    public static Markup Runs(IReadOnlyList<RunInfo> runs)
    {
        if (runs.Count == 0) return Html($"<p class=\"muted\">No runs yet.</p>");
        var rows = runs.OrderByDescending(r => r.Id).Select(r => Html($"""
            <tr data-run="{r.Id}"><td><a href="/console/runs/{r.Id}">#{r.Id}</a></td><td>{r.Train}</td><td>{r.Owner}</td><td>{State(r.State)}</td>
            <td>{r.CurrentRound} / {r.Rounds}</td><td>{JobCounts(r.Jobs)}</td><td>{Time(r.CreatedAt)}</td><td>{Time(r.FinishedAt)}</td></tr>
            """));
        return Html($"""
            <table><thead><tr><th>Run</th><th>Train</th><th>Researcher</th><th>State</th><th>Round</th><th>Jobs</th><th>Started</th><th>Finished</th></tr></thead>
            <tbody>{rows}</tbody></table>
            """);
    }

    private static Markup JobCounts(IReadOnlyList<JobInfo> jobs) =>
        Join(jobs.GroupBy(j => j.State).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Html($"<span class=\"state state-{g.Key}\">{g.Count()} {g.Key}</span> ")));

    public static Markup Run(RunInfo run, RunProgress progress, IReadOnlyList<ModelVersionInfo> versions) => Html($"""
        <dl class="facts">
        <dt>Train</dt><dd><a href="/console/trains/{run.TrainId}">{run.Train}</a></dd>
        <dt>Researcher</dt><dd>{run.Owner}</dd>
        <dt>State</dt><dd><span id="run-state" class="state state-{run.State}">{run.State}</span></dd>
        <dt>Round</dt><dd><span id="run-round">{run.CurrentRound}</span> of {run.Rounds}</dd>
        <dt>Jobs done</dt><dd><span id="run-done">{progress.Succeeded}</span> of <span id="run-total">{progress.Total}</span> succeeded</dd>
        <dt>Started</dt><dd>{Time(run.CreatedAt)}</dd>
        <dt>Parameters</dt><dd><code>{run.Parameters.ToJsonString()}</code></dd>
        </dl>
        <h2>Progress by round and station</h2>
        <p class="muted" id="progress-status">{(run.State == RunStates.Running ? "refreshes every 2 s" : "the run has ended")}</p>
        <div id="progress" data-progress="/console/runs/{run.Id}/progress" data-refreshes="0">{ProgressGrid(progress)}</div>
        <h3>Awaiting approval at</h3><ul id="awaiting">{progress.AwaitingApproval.Select(s => Html($"<li>{s}</li>"))}</ul>
        <h3>Failed</h3><ul id="failed">{progress.Failed.Select(f => Html($"<li>{f.Station}, round {f.Round}: {f.Error}</li>"))}</ul>
        {(versions.Count == 0 ? Markup.Empty : Html($"""
            <h2>Model versions</h2><ul>{versions.Select(v => Html($"<li><a href=\"/console/models/{v.RunId}/{v.Round}\">round {v.Round}</a> <code>{Short(v.Digest, 23)}</code></li>"))}</ul>
            """))}
        <p><a href="/console/runs/{run.Id}/provenance.svg">Provenance of the whole run (SVG)</a></p>
        """);

    /// <summary>The rounds × stations table; <see cref="RunScript"/> builds the same table from the progress JSON.</summary>
    public static Markup ProgressGrid(RunProgress p) => Html($"""
        <table class="grid"><thead><tr><th>Round</th><th>Round state</th>{p.Stations.Select(s => Html($"<th>{s}</th>"))}</tr></thead><tbody>
        {p.RoundList.Select(r => Html($"""
            <tr data-round="{r.Number}"><td>{r.Number}</td><td class="state state-{r.State}" title="{r.Error}">{r.State}</td>{p.Stations.Select(s => r.Jobs.FirstOrDefault(j => j.Station == s) is { } j
                ? Html($"<td class=\"state state-{j.State}\" data-station=\"{s}\" title=\"{j.Error}\">{j.State}{(j.Attempts > 1 ? Html($" ({j.Attempts} attempts)") : Markup.Empty)}</td>")
                : Html($"<td data-station=\"{s}\">—</td>"))}</tr>
            """))}
        </tbody></table>
        """);

    /// <summary>The run page's poller: fetches the progress JSON every 2 s while the run is running and rebuilds the grid with text nodes only.</summary>
    public const string RunScript = """
        (() => {
          const box = document.getElementById('progress');
          const status = document.getElementById('progress-status');
          const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
          const list = (id, items) => document.getElementById(id).replaceChildren(...items.map(t => el('li', '', t)));
          function render(p) {
            document.getElementById('run-state').textContent = p.state;
            document.getElementById('run-state').className = 'state state-' + p.state;
            document.getElementById('run-round').textContent = p.currentRound;
            document.getElementById('run-done').textContent = p.succeeded;
            document.getElementById('run-total').textContent = p.total;
            const table = el('table', 'grid'), head = el('tr');
            ['Round', 'Round state', ...p.stations].forEach(h => head.append(el('th', '', h)));
            table.append(el('thead'), el('tbody'));
            table.tHead.append(head);
            for (const r of p.roundList) {
              const row = el('tr'); row.dataset.round = r.number;
              row.append(el('td', '', r.number));
              const rs = el('td', 'state state-' + r.state, r.state); rs.title = r.error || ''; row.append(rs);
              for (const s of p.stations) {
                const j = r.jobs.find(x => x.station === s);
                const td = j ? el('td', 'state state-' + j.state, j.state + (j.attempts > 1 ? ' (' + j.attempts + ' attempts)' : '')) : el('td', '', '—');
                td.dataset.station = s; if (j) td.title = j.error || '';
                row.append(td);
              }
              table.tBodies[0].append(row);
            }
            box.replaceChildren(table);
            box.dataset.refreshes = Number(box.dataset.refreshes) + 1;
            list('awaiting', p.awaitingApproval);
            list('failed', p.failed.map(f => f.station + ', round ' + f.round + ': ' + (f.error || '')));
            status.textContent = p.state === 'running' ? 'refreshes every 2 s; updated ' + new Date().toLocaleTimeString() : 'the run has ended';
          }
          async function refresh() {
            try {
              const response = await fetch(box.dataset.progress, { headers: { 'X-Requested-With': 'XMLHttpRequest' }, cache: 'no-store' });
              if (!response.ok) { status.textContent = 'refresh failed: HTTP ' + response.status + (response.status === 401 ? ' (signed out?)' : ''); setTimeout(refresh, 5000); return; }
              const p = await response.json();
              render(p);
              if (p.state === 'running') setTimeout(refresh, 2000);
            } catch (e) { status.textContent = 'refresh failed: ' + e.message; setTimeout(refresh, 5000); }
          }
          if (document.getElementById('run-state').textContent === 'running') setTimeout(refresh, 2000);
        })();
        """;

    public static Markup Models(IReadOnlyList<ModelVersionInfo> versions)
    {
        if (versions.Count == 0) return Html($"<p class=\"muted\">No model versions yet: training runs make one per round.</p>");
        var rows = versions.OrderByDescending(v => v.RunId).ThenBy(v => v.Round).Select(v => Html($"""
            <tr data-version="{v.RunId}/{v.Round}"><td><a href="/console/models/{v.RunId}/{v.Round}">{v.RunId}/{v.Round}</a></td><td>{v.Train}</td><td>{v.Strategy}</td>
            <td>{v.Contributors.Count}</td><td>{v.Samples}</td><td>{Metrics(v.Metrics)}</td><td><code>{Short(v.Digest, 23)}</code></td><td>{Time(v.CreatedAt)}</td></tr>
            """));
        return Html($"""
            <table><thead><tr><th>Run/round</th><th>Train</th><th>Strategy</th><th>Stations</th><th>Samples</th><th>Metrics</th><th>Digest</th><th>Created</th></tr></thead>
            <tbody>{rows}</tbody></table>
            """);
    }

    public static Markup Model(ModelVersionInfo v, IReadOnlyList<ModelVersionInfo> runVersions, Markup provenance, long? ledgerEntry)
    {
        var parent = v.ParentDigest is null ? null : runVersions.Where(p => p.Digest == v.ParentDigest && p.Round < v.Round).MaxBy(p => p.Round);
        var parentMarkup = v.ParentDigest is null ? Html($"<span class=\"muted\">none: round {v.Round} started from the train's own initialization</span>")
            : parent is null ? Html($"<code>{v.ParentDigest}</code>")
            : Html($"<a href=\"/console/models/{parent.RunId}/{parent.Round}\">{parent.RunId}/{parent.Round}</a> <code>{v.ParentDigest}</code>");
        var contributors = v.Contributors.OrderBy(c => c.Station, StringComparer.Ordinal).Select(c => Html($"""
            <tr data-station="{c.Station}"><td>{c.Station}</td><td>{c.JobId}</td><td><code>{c.UpdateDigest}</code></td><td>{c.Samples}</td><td>{Metrics(c.Metrics)}</td></tr>
            """));
        return Html($"""
            <dl class="facts">
            <dt>Digest</dt><dd><code id="model-digest">{v.Digest}</code></dd>
            <dt>Parent</dt><dd id="model-parent">{parentMarkup}</dd>
            <dt>Run</dt><dd><a href="/console/runs/{v.RunId}">#{v.RunId}</a>, round {v.Round}</dd>
            <dt>Train</dt><dd>{v.Train}</dd>
            <dt>Strategy</dt><dd>{v.Strategy}</dd>
            <dt>Samples</dt><dd>{v.Samples}</dd>
            <dt>Metrics</dt><dd>{Metrics(v.Metrics)}</dd>
            <dt>Created</dt><dd>{Time(v.CreatedAt)}</dd>
            <dt>Recorded</dt><dd id="model-ledger">{(ledgerEntry is { } index ? Html($"ledger entry #{index} ({LedgerKinds.ModelVersioned})") : Html($"<span class=\"bad\">no {LedgerKinds.ModelVersioned} entry in the ledger</span>"))}</dd>
            </dl>
            <h2>Contributing stations</h2>
            <table><thead><tr><th>Station</th><th>Job</th><th>Update digest</th><th>Samples</th><th>Metrics</th></tr></thead><tbody>{contributors}</tbody></table>
            <h2>Metrics per round of run #{v.RunId}</h2>
            {MetricsPlot.Render([.. runVersions.Select(r => new RoundMetrics(r.Round, r.Metrics))], v.Round)}
            <h2>Provenance</h2>
            <p class="muted">Agents, activities and entities of rounds 1 to {v.Round} from the run's PROV export; each node names the ledger entry that records it.
            <a href="/console/models/{v.RunId}/{v.Round}/provenance.svg">Open as SVG</a></p>
            <div class="scroll">{provenance}</div>
            """);
    }

    public static Markup LedgerPage(HttpContext http, SignedTreeHead head, LedgerSigner signer, int headCount, IReadOnlyList<LedgerEntry> recent, LedgerAuditReport? audit)
    {
        var result = audit is null ? Markup.Empty : audit.Verdict.Ok
            ? Html($"""<div id="verify-result" class="notice ok" data-ok="true">Verified: {audit.TreeSize} entries and {audit.HeadsChecked} signed tree heads. Every entry is a canonical statement signed with the hub's ledger key, the Merkle root recomputed from the leaves matches every signed tree head, and every head's signature holds ({audit.Took.TotalMilliseconds:0} ms).</div>""")
            : Html($"""
                <div id="verify-result" class="error" data-ok="false"><p>The ledger check found {audit.Verdict.Findings.Count} problem(s) in {audit.TreeSize} entries:</p>
                <ul>{audit.Verdict.Findings.Select(f => Html($"<li><b>{f.Problem}</b>{(f.Index is { } i ? Html($" at entry {i}") : Markup.Empty)}: {f.Message}</li>"))}</ul></div>
                """);
        var rows = recent.Select(e => Html($"<tr><td>{e.Index}</td><td>{Time(e.Timestamp)}</td><td>{e.Kind}</td><td>{e.Actor}</td><td>{e.Subject}</td></tr>"));
        return Html($"""
            {result}
            <dl class="facts">
            <dt>Entries</dt><dd id="ledger-size">{head.TreeSize}</dd>
            <dt>Latest signed tree head</dt><dd>size {head.TreeSize} at {Time(head.Timestamp)}</dd>
            <dt>Root hash</dt><dd><code id="ledger-root">{Convert.ToHexStringLower(head.RootHash)}</code></dd>
            <dt>Head signature</dt><dd><code>{Short(Convert.ToBase64String(head.Signature), 48)}</code> by key <code>{head.KeyId}</code></dd>
            <dt>Signed tree heads stored</dt><dd>{headCount}</dd>
            <dt>Ledger key</dt><dd><details><summary><code>{signer.KeyId}</code></summary><pre>{signer.PublicKeyPem}</pre></details></dd>
            </dl>
            {Form(http, "/console/ledger/verify", Html($"<button class=\"primary\" id=\"verify\">Verify the whole ledger</button> <span class=\"muted\">recomputes the root from every leaf, checks each entry's signature and every tree head's signature</span>"))}
            <h2>Latest entries</h2>
            {(recent.Count == 0 ? Html($"<p class=\"muted\">The ledger is empty.</p>") : Html($"<table><thead><tr><th>#</th><th>Time</th><th>Kind</th><th>Actor</th><th>Subject</th></tr></thead><tbody>{rows}</tbody></table>"))}
            """);
    }

    private static Markup State(string state) => Html($"<span class=\"state state-{state}\">{state}</span>");

    private static Markup Metrics(IReadOnlyDictionary<string, double> metrics) =>
        Join(metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => Html($"<span class=\"metric\">{m.Key} = {m.Value:0.####}</span> ")));

    private static string Time(DateTimeOffset? time) => time?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", System.Globalization.CultureInfo.InvariantCulture) ?? "—";

    private static string Short(string? text, int length) => text is null ? "—" : text.Length > length ? text[..length] + "…" : text;

    private const string Css = """
        <style>
          body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
          header { display: flex; align-items: center; gap: 24px; padding: 10px 24px; background: #18324f; color: #fff; }
          header a { color: #fff; text-decoration: none; }
          .brand { font-weight: 700; }
          nav { display: flex; align-items: center; gap: 16px; flex: 1; }
          nav .who { margin-left: auto; opacity: .85; }
          nav form { display: inline; }
          main { padding: 16px 24px 48px; max-width: 1400px; }
          h1 { font-size: 22px; margin: 8px 0 16px; }
          h2 { font-size: 17px; margin: 24px 0 8px; }
          h3 { font-size: 14px; margin: 16px 0 4px; }
          table { border-collapse: collapse; background: #fff; margin: 4px 0 12px; }
          th, td { border: 1px solid #d8dce3; padding: 4px 8px; text-align: left; vertical-align: top; }
          th { background: #eef1f5; }
          code { font-size: 12px; overflow-wrap: anywhere; }
          pre { background: #fff; border: 1px solid #d8dce3; padding: 8px; overflow: auto; }
          .facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: #fff; padding: 12px; border: 1px solid #d8dce3; }
          .facts dt { font-weight: 600; } .facts dd { margin: 0; }
          .muted { color: #69707d; } .count { color: #69707d; font-weight: 400; }
          .ok { color: #17703a; } .bad { color: #b3261e; }
          .notice { background: #e6f4ea; border: 1px solid #9fd3ad; padding: 8px 12px; }
          .error { background: #fce8e6; border: 1px solid #f1a7a0; padding: 8px 12px; color: #7a1c14; }
          .state { padding: 1px 6px; border-radius: 3px; background: #eceff3; white-space: nowrap; }
          .state-succeeded, .state-completed, .state-published { background: #d7f0de; }
          .state-failed, .state-rejected { background: #f9d6d2; }
          .state-running, .state-merging, .state-claimed { background: #dbe7ff; }
          .state-awaiting-approval, .state-checked { background: #fff0c2; }
          .grid td.state { text-align: center; }
          .actions { display: flex; gap: 32px; flex-wrap: wrap; }
          .stack { display: flex; flex-direction: column; gap: 6px; max-width: 420px; }
          .stack label { display: flex; flex-direction: column; gap: 2px; }
          input { font: inherit; padding: 4px 6px; }
          button { font: inherit; padding: 5px 14px; border: 1px solid #8a93a3; border-radius: 4px; background: #fff; cursor: pointer; }
          button.primary { background: #1f5fbf; color: #fff; border-color: #1f5fbf; }
          button.danger { background: #b3261e; color: #fff; border-color: #b3261e; }
          button.link { background: none; border: none; color: #fff; text-decoration: underline; padding: 0; }
          .plots { display: flex; flex-wrap: wrap; gap: 12px; }
          .plot { background: #fff; border: 1px solid #d8dce3; }
          .plot text { font: 11px sans-serif; fill: #444; } .plot .title { font-weight: 600; fill: #1d2330; }
          .plot .axis { stroke: #444; } .plot .grid { stroke: #e3e6eb; }
          .plot .series { stroke: #1f5fbf; stroke-width: 2; } .plot .point { fill: #1f5fbf; } .plot .point.current { fill: #c0143c; }
          .scroll { overflow: auto; background: #fff; border: 1px solid #d8dce3; }
          .metric { white-space: nowrap; }
        </style>
        """;
}
